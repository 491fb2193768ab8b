"""Submission-time screening shared by registrations and filings: enterprise
code (统一社会信用代码), district, quantities, project type and control unit."""
