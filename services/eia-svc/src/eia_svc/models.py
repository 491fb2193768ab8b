"""All of eia-svc's tables, for Alembic: the common ones and the domain's."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase
from svc_common.db import CommonBase


class Base(DeclarativeBase):
    """Declarative base of eia-svc's domain tables."""


#: Every table this service's migrations manage.
metadata: list[MetaData] = [CommonBase.metadata, Base.metadata]


def _register_domain_tables() -> None:
    # Imported for their side effect: each module's tables join Base.metadata.
    from eia_svc.classification import models as _classification  # noqa: F401
    from eia_svc.control_units import models as _control_units  # noqa: F401
    from eia_svc.filings import models as _filings  # noqa: F401
    from eia_svc.parks import models as _parks  # noqa: F401
    from eia_svc.registrations import models as _registrations  # noqa: F401


_register_domain_tables()
