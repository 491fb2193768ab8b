"""All of permit-svc's tables, for Alembic: the common ones and the domain's."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase
from svc_common.db import CommonBase


class Base(DeclarativeBase):
    """Declarative base of permit-svc's domain tables."""


def _register_domain_tables() -> None:
    # Imported for their side effect: each module adds its tables to Base.
    from permit_svc.audits import models as _audits  # noqa: F401
    from permit_svc.enterprises import models as _enterprises  # noqa: F401
    from permit_svc.execution_reports import models as _execution_reports  # noqa: F401
    from permit_svc.parked import models as _parked  # noqa: F401
    from permit_svc.permits import models as _permits  # noqa: F401
    from permit_svc.quota_backing import models as _quota  # noqa: F401
    from permit_svc.registrations import models as _registrations  # noqa: F401


_register_domain_tables()

#: Every table this service's migrations manage.
metadata: list[MetaData] = [CommonBase.metadata, Base.metadata]
