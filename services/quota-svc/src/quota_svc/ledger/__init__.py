"""The quota ledger (总量指标台账): pools, the append-only journal, balances."""
