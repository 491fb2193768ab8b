"""Offset ratio from air quality (按空气质量确定倍量削减替代比例)."""
