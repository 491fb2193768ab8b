"""Independent reconciliation (对账) by numbered business checks."""
