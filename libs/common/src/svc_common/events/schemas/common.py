from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from svc_common.types import SignedTonnes, Tonnes


class PollutantAmount(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    pollutant: str
    amount_t: Tonnes


class PollutantChange(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    pollutant: str
    before_t: Tonnes
    after_t: Tonnes
    delta_t: SignedTonnes
