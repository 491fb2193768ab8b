"""Manual adjustments (人工调整): four-eyes corrections to a pool's credited amount."""
