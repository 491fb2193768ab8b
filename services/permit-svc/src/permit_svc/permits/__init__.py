"""Discharge permit certificates (排污许可证): application, issue and lifecycle."""
