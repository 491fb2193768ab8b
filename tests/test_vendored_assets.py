"""Every web asset is served locally: each vendored file matches the version
and SHA-256 recorded beside it, with its licence shipped next to it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = [
    ROOT / "libs/common/src/svc_common/static/VENDORED.md",
    ROOT / "services/console/src/console/static/vendor/VENDORED.md",
]


def rows(manifest: Path) -> list[tuple[str, str, str, str, str]]:
    out = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"[0-9a-f]{64}", cells[4]):
            out.append((cells[0], cells[1], cells[2], cells[3], cells[4]))
    return out


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.parent.name)
def test_vendored_files_match_their_manifest(manifest: Path) -> None:
    listed = rows(manifest)
    assert listed, f"{manifest} lists nothing"
    for file, _package, version, licence, digest in listed:
        path = manifest.parent / file
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, file
        assert re.match(r"\d+\.\d+\.\d+", version), (file, version)
        licence_file = re.search(r"\(([^)]+)\)", licence)
        if licence_file:
            for name in re.split(r",\s*", licence_file.group(1)):
                assert (manifest.parent / name.strip()).is_file(), f"{file}: {name} missing"
    on_disk = {
        str(p.relative_to(manifest.parent)) for p in manifest.parent.rglob("*.js") if p.is_file()
    }
    assert on_disk == {f for f, *_ in listed if f.endswith(".js")}, "an unlisted script"


def test_no_page_loads_anything_from_elsewhere() -> None:
    """No template or HTML the services render points at another host."""
    sources = [
        *ROOT.glob("services/console/src/console/templates/**/*.html"),
        ROOT / "services/console/src/console/static/console.js",
        ROOT / "services/eia-svc/src/eia_svc/registrations/receipt.py",
        ROOT / "libs/common/src/svc_common/service.py",
    ]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        loads = re.findall(r'(?:src|href)=["\'](https?://[^"\']+)', text)
        assert not loads, f"{path.name} loads {loads}"
