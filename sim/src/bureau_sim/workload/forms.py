"""Registration forms filed by machines, one by one and in bulk."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bureau_sim.workload.city import DISTRICT_CODES, Story

if TYPE_CHECKING:
    from bureau_sim.workload.base import Workload


def _form(w: Workload) -> dict[str, Any]:
    rng = w.rng
    d = rng.choice(DISTRICT_CODES)
    w._serial += 1
    row: dict[str, Any] = {
        "row_key": f"row-{w._serial}",
        "project_name": f"登记表项目{w._serial}",
        "uscc": w.uscc(d),
        "enterprise_name": f"天津某登记企业{w._serial}",
        "district": d,
        "project_type": rng.choice(w.city.form_types()),
        "vocs_increment_t": rng.choice(["0", "0", "0.05"]),
    }
    if rng.random() < 0.08:
        row["uscc"] = row["uscc"][:-1] + ("0" if row["uscc"][-1] != "0" else "1")  # a typo
    return row


async def machine_filing(w: Workload) -> Story:
    rng = w.rng
    filer = rng.choice(w.filers)
    if w.row_keys and rng.random() < 0.2:
        filer, row = rng.choice(w.row_keys)  # a replay after a lost answer
    else:
        row = _form(w)
        w.row_keys.append((filer, row))
    op = w.post("eia", "/eia/registrations", filer, row, "registration.file")
    async for pause in w.send(op):
        yield pause


async def bulk_filing(w: Workload) -> Story:
    rng = w.rng
    filer = rng.choice(w.filers)
    rows = [_form(w) for _ in range(w.cfg.bulk_rows)]
    mine = [r for f, r in w.row_keys if f is filer]
    rows += rng.sample(mine, min(len(mine), 3))
    w.row_keys += [(filer, r) for r in rows]
    op = w.client.op(
        "eia",
        "POST",
        "/eia/registrations:bulk",
        filer,
        content="\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(),
        content_type="application/x-ndjson",
        effect="registration.bulk_file",
    )
    async for pause in w.send(op):
        yield pause
