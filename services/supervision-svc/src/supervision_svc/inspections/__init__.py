"""Inspection plans by double-random draw (双随机) and on-site inspections
(执法检查) with their items and findings."""
