"""Parks with a bundled EIA (多评合一): one report covers listed project types."""
