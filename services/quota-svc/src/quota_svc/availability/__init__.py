"""Availability (可用总量) for investment-attraction staff: figures, what-if checks, dashboard."""
