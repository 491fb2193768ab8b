"""Registration-form auto-filing (登记表备案, "无人审批"): the machine path."""
