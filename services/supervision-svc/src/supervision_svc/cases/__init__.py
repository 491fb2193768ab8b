"""Enforcement cases (立案查处): proposed on a finding, decided with four eyes."""
