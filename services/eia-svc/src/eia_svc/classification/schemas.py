"""API shapes of the classification table."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ProjectTypeOut(BaseModel):
    code: str
    name: str
    industry_code: str
    category: str
    rule: str


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_type: str = Field(min_length=1, max_length=40)


class ClassifyResult(BaseModel):
    project_type: str
    name: str
    category: str
    needs_filing: bool
    rule: str
    explanation: str
