"""Reclaims (收回): quota freed by closed sources or reductions, confirmed by an officer."""
