"""Lots (批次) and lineage (来源追溯): every credited tonne and where it went."""
