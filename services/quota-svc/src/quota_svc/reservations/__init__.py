"""Reservations: a project's quota need held, then allocated or released (two-phase)."""
