"""Export of the ledger (数据导出) and import into an empty ledger."""
