"""Everything random in the services, drawn from the seed: ids (uuid4 orders
rows, sampling and numbers), trace ids. With the inline SQLite driver, a
frozen clock and a single-threaded scheduler, a seed replays exactly.

The order of a set of strings depends on PYTHONHASHSEED; `make sim` fixes it
(the CLI re-executes itself with PYTHONHASHSEED=0 when it is not set) so a
seed printed by one run replays in another."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

from svc_common import context


@contextlib.contextmanager
def seeded_ids(rng: random.Random) -> Iterator[None]:
    """uuid.uuid4 and the trace-context ids drawn from `rng` for the block."""
    original_uuid4 = uuid.uuid4
    original_secrets = context.secrets

    def uuid4() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    def token_hex(nbytes: int | None = None) -> str:
        return rng.getrandbits(8 * (nbytes or 32)).to_bytes(nbytes or 32, "big").hex()

    uuid.uuid4 = uuid4
    context.secrets = SimpleNamespace(token_hex=token_hex)  # type: ignore[assignment]
    try:
        yield
    finally:
        uuid.uuid4 = original_uuid4
        context.secrets = original_secrets
