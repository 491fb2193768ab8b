"""Report and report-form filings (报告书 / 报告表): the officer path, in the
normal channel, the green channel (绿色通道) or bundled EIA (多评合一)."""
