"""Total-quantity control (总量控制): the local read model of quota allocated
by quota-svc, which backs new or increased VOCs amounts on permits."""
