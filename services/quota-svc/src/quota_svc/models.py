"""All of quota-svc's tables, for Alembic: the common ones and the domain's."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase
from svc_common.db import CommonBase


class Base(DeclarativeBase):
    """Declarative base of quota-svc's domain tables."""


def _register_domain_tables() -> None:
    # Imported for their side effect of adding tables to Base.metadata; done
    # here, after Base exists, because those modules import Base from here.
    from quota_svc.adjustments import models as _adjustments  # noqa: F401
    from quota_svc.airquality import models as _airquality  # noqa: F401
    from quota_svc.debts import models as _debts  # noqa: F401
    from quota_svc.ledger import models as _ledger  # noqa: F401
    from quota_svc.lots import models as _lots  # noqa: F401
    from quota_svc.policy import models as _policy  # noqa: F401
    from quota_svc.reclaims import models as _reclaims  # noqa: F401
    from quota_svc.register import models as _register  # noqa: F401
    from quota_svc.reservations import models as _reservations  # noqa: F401
    from quota_svc.swaps import models as _swaps  # noqa: F401
    from quota_svc.trading import models as _trading  # noqa: F401


_register_domain_tables()

#: Every table this service's migrations manage.
metadata: list[MetaData] = [CommonBase.metadata, Base.metadata]
