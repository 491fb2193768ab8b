"""All of supervision-svc's tables, for Alembic: the common ones and the domain's."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase
from svc_common.db import CommonBase


class Base(DeclarativeBase):
    """Declarative base of supervision-svc's domain tables."""


#: Every table this service's migrations manage.
metadata: list[MetaData] = [CommonBase.metadata, Base.metadata]


def _register_domain_tables() -> None:
    # Imported for their side effect: each module's tables join Base.metadata.
    from supervision_svc import numbering as _numbering  # noqa: F401
    from supervision_svc.alerts import models as _alerts  # noqa: F401
    from supervision_svc.cases import models as _cases  # noqa: F401
    from supervision_svc.complaints import models as _complaints  # noqa: F401
    from supervision_svc.demands import models as _demands  # noqa: F401
    from supervision_svc.grading import models as _grading  # noqa: F401
    from supervision_svc.inspections import models as _inspections  # noqa: F401
    from supervision_svc.registry import models as _registry  # noqa: F401


_register_domain_tables()
