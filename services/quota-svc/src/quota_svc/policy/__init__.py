"""District quota policy: offset ratio (倍量削减替代) and hold period, effective-dated."""
