"""Heavy-pollution weather alerts (重污染天气预警) and each affected
enterprise's required measure, with the expected reductions per district."""
