"""All of quota-svc's tables, for Alembic: the common ones and the domain's."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase
from svc_common.db import CommonBase


class Base(DeclarativeBase):
    """Declarative base of quota-svc's domain tables."""


#: Every table this service's migrations manage.
metadata: list[MetaData] = [CommonBase.metadata, Base.metadata]
