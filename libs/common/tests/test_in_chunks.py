"""Long key lists are read in `IN (…)` lists of bounded length."""

from __future__ import annotations

from svc_common.db import IN_LIST_CHUNK, in_chunks


def test_every_key_once_in_order_in_bounded_lists() -> None:
    keys = [f"k{i}" for i in range(2 * IN_LIST_CHUNK + 1)]
    chunks = list(in_chunks(keys))
    assert [len(c) for c in chunks] == [IN_LIST_CHUNK, IN_LIST_CHUNK, 1]
    assert [k for c in chunks for k in c] == keys
    assert [list(c) for c in in_chunks([1, 2, 3], size=2)] == [[1, 2], [3]]
    assert list(in_chunks([])) == []
