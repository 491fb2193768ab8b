"""Cross-district swaps (跨区调剂) with two approvals and a cancellable delay."""
