"""The classification table as stored (分类管理名录)."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from eia_svc.models import Base


class ProjectTypeRow(Base):
    """A project type of the EIA classification table (建设项目类别)."""

    __tablename__ = "project_types"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    industry_code: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    rule: Mapped[str] = mapped_column(Text)
