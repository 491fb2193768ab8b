"""`context.new_ids` makes many ids at once: each must be what uuid4 makes
of the same 16 random bytes, and a replaced uuid4 (the simulator's seeded
ids) must still be the one that makes them."""

from __future__ import annotations

import contextlib
import os
import random
import uuid
from collections.abc import Callable, Iterator
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from svc_common import context


@contextlib.contextmanager
def _drawing(drawn: bytes) -> Iterator[list[int]]:
    """os.urandom answering from `drawn`; yields the sizes it was asked for."""
    calls: list[int] = []

    def urandom(n: int) -> bytes:
        calls.append(n)
        return drawn[:n]

    with mock.patch.object(context.os, "urandom", urandom):
        yield calls


def _in_a_forked_child(make: Callable[[], str]) -> str:
    """What `make()` gives in a child forked now."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, make().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    made = os.read(read, 64).decode()
    os.close(read)
    return made


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40).flatmap(lambda n: st.binary(min_size=16 * n, max_size=16 * n)))
def test_ids_are_uuid4s_of_the_same_random_bytes(drawn: bytes) -> None:
    calls: list[int] = []

    def urandom(n: int) -> bytes:
        calls.append(n)
        return drawn

    with mock.patch.object(context.os, "urandom", urandom):
        ids = context.new_ids(len(drawn) // 16)
    expected = [
        str(uuid.UUID(bytes=drawn[i : i + 16], version=4)) for i in range(0, len(drawn), 16)
    ]
    assert ids == expected
    assert calls == [len(drawn)]  # one draw for all of them


def test_ids_are_distinct_version_4_uuids() -> None:
    ids = context.new_ids(5000)
    assert len(set(ids)) == 5000
    for text in ids[:50]:
        u = uuid.UUID(text)
        assert str(u) == text and u.version == 4 and u.variant == uuid.RFC_4122


def test_a_replaced_uuid4_makes_the_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=rng.getrandbits(128), version=4))
    first = context.new_ids(3)
    rng.seed(7)
    assert [context.new_id() for _ in range(3)] == first


def test_new_id_hands_out_ids_made_together_in_their_order() -> None:
    drawn = bytes(range(256)) * (16 * context._ID_STORE // 256)
    context._store.clear()
    with _drawing(drawn) as calls:
        ids = [context.new_id() for _ in range(context._ID_STORE)]
        assert calls == [16 * context._ID_STORE]  # one draw for the store
        context.new_id()
        assert len(calls) == 2  # the next store, when this one is used up
    context._store.clear()
    assert ids == [
        str(uuid.UUID(bytes=drawn[i : i + 16], version=4)) for i in range(0, len(drawn), 16)
    ]


def test_a_forked_child_does_not_hand_out_its_parents_ids() -> None:
    context.new_id()  # the store is filled in the parent
    childs = _in_a_forked_child(context.new_id)
    assert uuid.UUID(childs).version == 4
    assert childs not in {context.new_id() for _ in range(context._ID_STORE)}


def test_traceparents_take_their_random_hex_from_one_draw_in_order() -> None:
    drawn = bytes(range(256)) * (context._HEX_STORE_BYTES // 256)
    context._hex_store.clear()
    with _drawing(drawn) as calls:
        made = [context.new_traceparent() for _ in range(3)]
        kept = context.new_traceparent("00-" + "a" * 32 + "-" + "b" * 16 + "-01")
        assert calls == [context._HEX_STORE_BYTES]
        # A store used up is refilled, never read past its end.
        last = [context.new_traceparent() for _ in range(2 * context._HEX_STORE_BYTES // 48)]
        assert calls == [context._HEX_STORE_BYTES] * 2
        assert all(context.is_traceparent(t) for t in last)
    context._hex_store.clear()
    text = drawn.hex()
    assert made == [f"00-{text[i : i + 32]}-{text[i + 32 : i + 48]}-01" for i in (0, 48, 96)]
    assert kept == f"00-{'a' * 32}-{text[144:160]}-01"


def test_traceparents_are_fresh_and_the_simulator_draws_its_own() -> None:
    spans = {context.new_traceparent()[36:52] for _ in range(2 * context._HEX_STORE_BYTES)}
    assert len(spans) == 2 * context._HEX_STORE_BYTES
    seeded = random.Random(7)
    token_hex = lambda n: seeded.getrandbits(8 * n).to_bytes(n, "big").hex()  # noqa: E731
    with mock.patch.object(context, "secrets", mock.Mock(token_hex=token_hex)):
        first = context.new_traceparent()
    again = random.Random(7)
    trace, span = (again.getrandbits(8 * n).to_bytes(n, "big").hex() for n in (16, 8))
    assert first == f"00-{trace}-{span}-01"


def test_a_forked_child_does_not_hand_out_its_parents_trace_ids() -> None:
    context.new_traceparent()  # the store is filled in the parent
    childs = _in_a_forked_child(context.new_traceparent)
    assert context.is_traceparent(childs) and childs != context.new_traceparent()
