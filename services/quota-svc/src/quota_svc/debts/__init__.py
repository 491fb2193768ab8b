"""Advance use (先用后补): quota used before it is offset, as a debt."""
