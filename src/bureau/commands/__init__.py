"""The administrator's commands of `bureau`, one module each, registered in
bureau.cli (so adding a command is adding a module and one line there)."""
