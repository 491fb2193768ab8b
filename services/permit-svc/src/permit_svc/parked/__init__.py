"""Approved EIA filings permit-svc cannot draft an application for yet
(parked): kept with their reason until the cause is fixed, then drafted."""
