"""The bureau's command line and the embedded runner of the three services."""
