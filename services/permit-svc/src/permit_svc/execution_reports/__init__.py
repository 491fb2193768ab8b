"""Permit execution reports (排污许可证执行报告): which periods a permit owes,
the reports filed for them with their plausibility findings, and the
missed-report list (逾期未报)."""
