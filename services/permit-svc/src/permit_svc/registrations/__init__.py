"""Discharge registrations (排污登记): filed at once, no approval."""
