"""`context.new_ids` makes many ids at once: each must be what uuid4 makes
of the same 16 random bytes, and a replaced uuid4 (the simulator's seeded
ids) must still be the one that makes them."""

from __future__ import annotations

import os
import random
import uuid
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from svc_common import context


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
    calls: list[int] = []

    def urandom(n: int) -> bytes:
        calls.append(n)
        return drawn[:n]

    context._store.clear()
    with mock.patch.object(context.os, "urandom", urandom):
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
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        os.write(write, context.new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    childs = os.read(read, 64).decode()
    os.close(read)
    assert uuid.UUID(childs).version == 4
    assert childs not in {context.new_id() for _ in range(context._ID_STORE)}
