"""The demands list (诉求清单): items raised from visits, inspections and
complaints, each with an owner, a deadline and its progress."""
