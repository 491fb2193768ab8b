"""The public, hash-chained register (公开登记簿)."""
