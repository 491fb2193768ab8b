"""One answer for every bulk endpoint of every service: each `…:bulk` and
`…:import` operation declares svc_common.bulk.BulkReport as its answer and
really answers it (checked strictly: no field more, none missing). Found from
the OpenAPI documents, so an endpoint added tomorrow is checked the day it
is added."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eia_svc.app import create as create_eia
from eia_svc.settings import Settings as EiaSettings
from fastapi import FastAPI
from permit_svc.app import create as create_permit
from permit_svc.settings import Settings as PermitSettings
from quota_svc.app import create as create_quota
from quota_svc.settings import Settings as QuotaSettings
from supervision_svc.app import create as create_supervision
from supervision_svc.settings import Settings as SupervisionSettings
from svc_common import testing
from svc_common.bulk import BulkReport

SERVICES: dict[str, Callable[[str], FastAPI]] = {
    "permit": lambda url: create_permit(PermitSettings(database_url=url, log_json=False)),
    "quota": lambda url: create_quota(QuotaSettings(database_url=url, log_json=False)),
    "eia": lambda url: create_eia(EiaSettings(database_url=url, log_json=False)),
    "supervision": lambda url: create_supervision(
        SupervisionSettings(database_url=url, log_json=False)
    ),
}
#: Every bulk endpoint there is today; the test fails if one goes missing.
KNOWN = {
    "/permit/enterprises:import",
    "/permit/registrations:import",
    "/permit/permits:import",
    "/permit/industries:import",
    "/eia/registrations:bulk",
    "/eia/project-types:import",
    "/supervision/complaints:import",
    "/supervision/demands:import",
}
#: Reference tables are replaced whole (all or nothing): a bad line refuses
#: the upload, so they are sent their shipped table again instead.
SHIPPED = pathlib.Path(__file__).parents[1] / "services"
TABLES = {
    "/permit/industries:import": SHIPPED / "permit-svc/src/permit_svc/data/industries.csv",
    "/eia/project-types:import": SHIPPED / "eia-svc/src/eia_svc/data/project_types.csv",
}


def bulk_operations(app: FastAPI) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, ops in app.openapi()["paths"].items():
        if path.endswith((":bulk", ":import")) and "post" in ops:
            yield path, ops["post"]


def test_every_bulk_endpoint_declares_the_shared_report(tmp_path: pathlib.Path) -> None:
    found = set()
    for make in SERVICES.values():
        app = make(f"sqlite+aiosqlite:///{tmp_path}/unused.db")
        spec = app.openapi()
        for path, op in bulk_operations(app):
            found.add(path)
            answer = op["responses"]["200"]["content"]["application/json"]["schema"]
            assert answer == {"$ref": "#/components/schemas/BulkReport"}, path
            declared = spec["components"]["schemas"]["BulkReport"]
            assert set(declared["properties"]) == {"rows", "totals", "results"}
    assert found >= KNOWN, KNOWN - found


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_every_bulk_endpoint_answers_the_shared_report(
    service: str, tmp_path: pathlib.Path
) -> None:
    async with testing.database_url("sqlite", tmp_path) as url:
        app = SERVICES[service](url)
        async with testing.running(app) as client:
            for path, _ in bulk_operations(app):
                if path in TABLES:
                    content = TABLES[path].read_bytes()
                    ctype = "text/csv"
                else:  # an unreadable line and an empty object: two refused rows
                    content, ctype = b'not json\n{"x": 1}\n', "application/x-ndjson"
                r = await client.post(
                    path, content=content, headers=testing.auth("admin", **{"content-type": ctype})
                )
                assert r.status_code == 200, (path, r.text[:500])
                report = BulkReport.model_validate_json(r.content)  # strict: extra="forbid"
                assert report.rows == len(report.results) > 0
                assert [x.row for x in report.results] == list(range(1, report.rows + 1))
                assert sum(report.totals.model_dump().values()) == report.rows
                if path in TABLES:  # the shipped table is the one loaded at start-up
                    assert report.totals.replayed == report.rows, path
                else:
                    assert report.totals.error == 2, path
                    assert all(x.errors for x in report.results), path
