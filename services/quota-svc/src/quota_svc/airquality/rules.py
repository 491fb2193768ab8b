"""Pure air-quality rules: the statuses and which ratio is in force."""

from __future__ import annotations

from enum import StrEnum


class AirQuality(StrEnum):
    """A district's ambient air quality against the standard (GB 3095)."""

    ATTAINED = "attained"  # 达标
    SLIGHTLY_EXCEEDED = "slightly_exceeded"  # 轻度超标
    EXCEEDED = "exceeded"  # 超标
    SEVERELY_EXCEEDED = "severely_exceeded"  # 严重超标


NAMES_ZH = {
    AirQuality.ATTAINED: "达标",
    AirQuality.SLIGHTLY_EXCEEDED: "轻度超标",
    AirQuality.EXCEEDED: "超标",
    AirQuality.SEVERELY_EXCEEDED: "严重超标",
}


def ratio_in_force(
    *,
    explicit_h: int | None,
    follows_air_quality: bool,
    air_quality_h: int | None,
    pollutant_follows_air_quality: bool,
    default_h: int,
) -> tuple[int, str]:
    """(ratio in hundredths, where it came from). An explicit district ratio
    overrides; else, for an air pollutant, the ratio the district's air
    quality calls for; else the service default."""
    if explicit_h is not None and not follows_air_quality:
        return explicit_h, "explicit"
    if air_quality_h is not None and pollutant_follows_air_quality:
        return air_quality_h, "air_quality"
    return default_h, "default"
