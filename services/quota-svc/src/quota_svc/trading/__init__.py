"""Emission-rights holdings and trading (排污权交易)."""
