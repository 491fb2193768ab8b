"""District reports: permit coverage (全覆盖) and audit progress."""
