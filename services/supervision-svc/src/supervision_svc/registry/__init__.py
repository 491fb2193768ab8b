"""The register of enterprises and their permits, learned from permit-svc's events."""
