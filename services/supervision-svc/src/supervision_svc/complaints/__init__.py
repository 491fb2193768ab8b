"""12369 complaints (信访投诉): intake with duplicate detection, clusters,
lifecycle with statutory clocks, reports."""
