"""EIA classification (建设项目环境影响评价分类管理名录): which category of
EIA document a project type needs, and the rule that decides it."""
