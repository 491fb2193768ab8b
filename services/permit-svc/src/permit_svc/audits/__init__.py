"""Permit quality audits (许可质量审核) and the rectification (整改) of findings."""
