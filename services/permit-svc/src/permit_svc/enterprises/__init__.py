"""Fixed pollution sources (固定污染源): enterprises, their USCC and their
management category from the classification table (分类管理名录)."""
