"""The writes of one transaction's last step, sent together: on PostgreSQL as
one statement (data-modifying CTEs: one round trip for the journal entries,
the pool balance, the reservation, the outbox rows and the audit entry, run
on the driver inside the transaction: `DriverStatement.fetch_in`),
elsewhere (SQLite), or for many rows, one statement per table. Either way
the rows of one INSERT go in in order (journal ids, outbox seq).

In a batch on the driver (svc_common.batching) the one statement is left
for the batch's end (`execute(conn, later)`), where the batch's operations
of the same shape go in one pipelined `executemany`, and the batch's outbox
rows are leased after them in one more statement (`_BatchLease`).

Outbox rows written in the one statement on PostgreSQL are leased to this
process's relay where their key has no earlier unsent row, and published by
it at once after the commit (`svc_common.outbox.publish_direct`): the
statement returns which, and the session's info hands them over.

A route whose effect commits in a group commit of its own keeps the
request's Idempotency-Key answer with it (`answer`): one more part of the
one statement, so the answer commits with the effect, in no round trip of
its own (svc_common.idempotency).

Statements are built once per shape (which tables, which columns, how many
rows) and cached, so a request only binds values.

A row to change is locked and read with a `DriverStatement` (`fetch_in`)
and held as a `transient` entity: the session never holds it (no identity
map, no flush), the domain code reads and sets its attributes as on a
loaded one, and `save` writes back the columns that changed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from operator import itemgetter
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Insert,
    Table,
    TextClause,
    Update,
    bindparam,
    case,
    exists,
    insert,
    null,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.interfaces import BindTyping, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from starlette.responses import Response

from svc_common.batching import BatchWrites
from svc_common.db import (
    AFTER_COMMIT,
    OUTBOX_DIRECT,
    OUTBOX_WRITTEN,
    DriverConnection,
    DriverStatement,
    DriverUnit,
    by_name,
)
from svc_common.events.registry import EventPayload
from svc_common.idempotency import answer_to_keep
from svc_common.outbox import Claimed, lease_until, outbox_rows
from svc_common.tables import AuditEntry, IdempotencyRecord, OutboxRow

_E = TypeVar("_E")
_OUTBOX = cast(Table, OutboxRow.__table__)
_AUDIT = cast(Table, AuditEntry.__table__)
_ANSWERS = cast(Table, IdempotencyRecord.__table__)

#: More rows than this go one statement per table (e.g. the expiry sweep).
MAX_COMBINED_ROWS = 24

_Shape = tuple[tuple[str, str, str | None, tuple[str, ...], int], ...]


@dataclass(frozen=True)
class _Op:
    table: Table
    #: None: INSERT the rows; else UPDATE … WHERE key = row[key], per row.
    key: str | None
    rows: list[dict[str, Any]]
    #: For an UPDATE: add the row's values to the columns instead of setting them.
    add: bool = False
    #: For the outbox's INSERT: lease the rows to this process's relay
    #: (see the module's docstring) and return which were.
    lease: bool = False


class Writes:
    """INSERTs and keyed UPDATEs collected in order, then `execute`d."""

    def __init__(self) -> None:
        self._ops: list[_Op] = []
        #: The info of the session the outbox rows were written for, and
        #: whether they may be leased (not inside a savepoint, whose
        #: rollback would leave the relay publishing rows that are gone).
        self._info: dict[str, Any] | None = None
        self._may_lease = False

    def insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """INSERT `rows` (all with the same keys) into `table`."""
        if rows:
            self._ops.append(_Op(table, None, rows))

    def update(self, table: Table, key: str, rows: list[dict[str, Any]]) -> None:
        """UPDATE `table` SET a row's other columns WHERE `key` = row[key], per row."""
        if rows:
            self._ops.append(_Op(table, key, rows))

    def add(self, table: Table, key: str, rows: list[dict[str, Any]]) -> None:
        """UPDATE `table` SET column = column + value for a row's other columns
        WHERE `key` = row[key], per row (the CHECKs still guard the result)."""
        if rows:
            self._ops.append(_Op(table, key, rows, add=True))

    def answer(self, session: AsyncSession | DriverUnit, response: Response) -> None:
        """Keep `response` as the request's Idempotency-Key answer, written
        with these rows in `session`'s transaction (应答随效果提交); nothing
        if the request has none to keep (svc_common.idempotency). If a twin
        request stored its answer first, the writes fail on its unique index."""
        found = answer_to_keep(response, session)
        if found is None:
            return
        row, kept = found
        self.insert(_ANSWERS, [row])
        session.info.setdefault(AFTER_COMMIT, []).append(kept)

    def events(self, session: AsyncSession | DriverUnit, payloads: Sequence[EventPayload]) -> None:
        """The outbox rows of `payloads`, for the relay after the commit."""
        if rows := outbox_rows(payloads):
            self.insert(_OUTBOX, rows)
            self._info = session.info
            self._may_lease = isinstance(session, DriverUnit) or not (
                session.in_nested_transaction()
            )

    def audit(self, rows: list[dict[str, Any]]) -> None:
        """Audit entries (`svc_common.audit.audit_row`)."""
        self.insert(_AUDIT, rows)

    def save(self, table: Table, key: str, entity: Any, loaded: dict[str, Any]) -> None:
        """UPDATE the columns of a `transient` entity that changed since it
        was loaded as `loaded`; nothing if none did."""
        if changes := changed(entity, loaded):
            self.update(table, key, [{key: getattr(entity, key), **changes}])

    async def execute(self, conn: AsyncConnection, later: BatchWrites | None = None) -> None:
        """Send the writes; with `later` (a batch on the driver), leave the
        one combined statement for the batch's end instead (BatchWrites)."""
        ops, self._ops = self._ops, []
        info, self._info = self._info, None
        may_lease, self._may_lease = self._may_lease, False
        if not ops:
            return
        if (
            conn.dialect.name == "postgresql"
            and (len(ops) > 1 or (info is not None and later is None))
            and sum(len(op.rows) for op in ops) <= MAX_COMBINED_ROWS
            and all(op.key is None or len(op.rows) == 1 for op in ops)
            # The parts run on one snapshot and cannot see each other's rows:
            # at most one part per table.
            and len({op.table.name for op in ops}) == len(ops)
        ):
            outbox = next((op for op in ops if op.table is _OUTBOX), None)
            if outbox is not None and info is not None and may_lease and later is None:
                # Last, so the statement returns its RETURNING: which rows
                # were leased. The parts' order changes nothing else.
                ops.remove(outbox)
                ops.append(outbox := replace(outbox, lease=True))
            shape: _Shape = tuple(
                (op.table.name, _mode(op), op.key, tuple(op.rows[0]), len(op.rows)) for op in ops
            )
            combined = _COMBINED.get(shape)
            if combined is None:
                combined = _COMBINED[shape] = _Combined(ops)
            stmt = combined.statement
            params = combined.params(ops)
            if outbox is not None and outbox.lease:
                params[_LEASE] = lease_until()
                _hand_over(info, outbox.rows, await stmt.fetch_in(conn, params))
            elif later is not None and isinstance(conn, DriverConnection):
                later.add(stmt, conn, params)
                if outbox is not None and info is not None and may_lease:
                    lease = later.last("outbox.lease", lambda: _BatchLease(info, conn.dialect))
                    lease.rows += outbox.rows
                else:
                    _written(info)
            else:
                await stmt.fetch_in(conn, params)
                _written(info)
            return
        _written(info)
        for op in ops:
            rows = op.rows
            if op.key is not None:
                rows = [{f"b_{c}": v for c, v in row.items()} for row in rows]
            await conn.execute(_single(op), rows)


class _Combined:
    """One shape's combined statement, and how its parameters are named: the
    names are made once per shape, each run only takes its rows' values in
    the columns' order (in C: formatting the names per run was 5 % of a hot
    pool's CPU; bench/RESULTS.md, 2026-12-05)."""

    def __init__(self, ops: list[_Op]) -> None:
        self.statement = DriverStatement(_combined(ops))
        columns = [tuple(op.rows[0]) for op in ops]
        self._names = tuple(
            f"w{i}_{r}_{c}"
            for i, op in enumerate(ops)
            for r in range(len(op.rows))
            for c in columns[i]
        )
        self._values = tuple(_values_of(cols) for cols in columns)

    def params(self, ops: list[_Op]) -> dict[str, Any]:
        """The run's parameters by name: each row's values taken by the
        columns of the shape (a row lacking one raises KeyError)."""
        values = chain.from_iterable(
            chain.from_iterable(map(take, op.rows))
            for take, op in zip(self._values, ops, strict=True)
        )
        return dict(zip(self._names, values, strict=True))


def _values_of(columns: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A row's values in `columns`' order, as a tuple (itemgetter gives a
    lone column's value bare)."""
    if len(columns) == 1:
        (column,) = columns
        return lambda row: (row[column],)
    return itemgetter(*columns)


_COMBINED: dict[_Shape, _Combined] = {}
_SINGLE: dict[tuple[str, str, str | None, tuple[str, ...]], Insert | Update] = {}


#: The parameter of the lease's end (see `_leased`).
_LEASE = "lease_until"

#: A batch's outbox rows leased after they were written (`_BatchLease`): each
#: whose key has no unsent row but the batch's own, which its relay then
#: publishes in seq order. The keys that have one are found once for the
#: statement (an uncorrelated subquery, hashed), not once a row: on a hot
#: pool every row of a batch has one key, and asked a row at a time the
#: check read that key's unsent rows, each against every id of the batch,
#: as many times as the batch had rows (1.2 ms a batch of 32 rows). The
#: batch's own rows are unsent (written in this transaction, seen by no
#: other): asked `sent_at IS NULL` of them too, PostgreSQL walked the whole
#: index of unsent rows beside the ids' (3x the statement's time, 16 pools).
_LEASE_BATCH = DriverStatement(
    text(
        "UPDATE outbox AS o SET next_attempt_at = :lease_until"
        " WHERE o.event_id = ANY(CAST(:ids AS VARCHAR[]))"
        " AND o.key NOT IN (SELECT e.key FROM outbox AS e"
        " WHERE e.key = ANY(CAST(:keys AS VARCHAR[])) AND e.sent_at IS NULL"
        " AND e.event_id <> ALL(CAST(:ids AS VARCHAR[])))"
        " RETURNING o.event_id, o.seq, true"
    )
)


class _BatchLease:
    """The outbox rows of a batch on the driver (BatchWrites), leased to this
    process's relay in one statement after the batch's writes, as a
    transaction alone leases its own in its combined statement (`_leased`):
    published at once after the commit instead of claimed. The statement
    comes after every write of the batch, so its snapshot is taken after
    any lock those writes waited on (a reservation's insert waiting on the
    unique index for a release of the project's earlier hold): a row
    committed meanwhile for one of its keys is seen, and that key is not
    leased. The batch's pool lock, taken before, orders the pool's own. A
    key's rows in the batch are all leased or none."""

    def __init__(self, info: dict[str, Any], dialect: Dialect) -> None:
        self.info = info
        self.dialect = dialect
        self.rows: list[dict[str, Any]] = []

    async def send(self, driver: Any) -> None:
        ids = [r["event_id"] for r in self.rows]
        keys = list(dict.fromkeys(r["key"] for r in self.rows))
        params = {"ids": ids, "keys": keys, _LEASE: lease_until()}
        sql, args = _LEASE_BATCH.bound(self.dialect, params)
        # The rows are in seq order: the batch sent its operations' writes in
        # the order they ran (BatchWrites keeps it), and the relay publishes
        # a key's rows in the order handed over.
        _hand_over(self.info, self.rows, await driver.fetch(sql, *args))


def _written(info: dict[str, Any] | None) -> None:
    """Outbox rows were written for any relay to claim: wake this one after
    the commit."""
    if info is not None:
        info[OUTBOX_WRITTEN] = True


def _hand_over(info: dict[str, Any] | None, rows: list[dict[str, Any]], found: Any) -> None:
    """The leased rows to the relay after the commit (OUTBOX_DIRECT); any
    other row wakes it to claim."""
    assert info is not None
    leased = {r[0]: r[1] for r in found if r[2]}
    direct = info.setdefault(OUTBOX_DIRECT, [])
    for row in rows:
        seq = leased.get(row["event_id"])
        if seq is None:
            info[OUTBOX_WRITTEN] = True
        else:
            direct.append(Claimed(seq, row["key"], row["topic"], row["envelope"], 0))


def _mode(op: _Op) -> str:
    return "l" if op.lease else "i" if op.key is None else "a" if op.add else "u"


def _leased(op: _Op, values: list[dict[str, Any]]) -> Insert:
    """The outbox's INSERT of `values` leasing each row whose key has no
    earlier unsent row (committed, or written before in this transaction;
    the statement's own rows are not seen), returning (event_id, seq,
    leased) per row.

    The check reads the statement's snapshot, taken before any lock the
    statement itself waits on. Transactions that must publish a key in
    commit order take the lock that orders them in an earlier statement
    (the filing's `lock_filing`, the pool's lock), so the later one's
    snapshot sees the earlier one's row and does not lease its own."""
    t = op.table
    earlier = t.alias("earlier")
    until = bindparam(_LEASE, type_=t.c.next_attempt_at.type)
    for v in values:
        v["next_attempt_at"] = case(
            (exists().where(earlier.c.key == v["key"], earlier.c.sent_at.is_(None)), null()),
            else_=until,
        )
    return (
        insert(t)
        .values(values if len(values) > 1 else values[0])
        .returning(t.c.event_id, t.c.seq, t.c.next_attempt_at.is_not(None))
    )


def _dml(op: _Op, name: Any) -> Insert | Update:
    """The op's statement with bind parameters named by `name(row, column)`."""
    t, cols = op.table, tuple(op.rows[0])
    if op.key is None:
        values = [
            {c: bindparam(name(r, c), type_=t.c[c].type) for c in cols} for r in range(len(op.rows))
        ]
        if op.lease:
            return _leased(op, values)
        return insert(t).values(values if len(values) > 1 else values[0])
    key = op.key
    sets = {c: bindparam(name(0, c), type_=t.c[c].type) for c in cols if c != key}
    return (
        update(t)
        .where(t.c[key] == bindparam(name(0, key), type_=t.c[key].type))
        .values({c: t.c[c] + v for c, v in sets.items()} if op.add else sets)
    )


#: Renders :name placeholders; PostgreSQL infers each parameter's type from
#: the column it is inserted into, set to or compared with.
_NAMED = postgresql.dialect(paramstyle="named")
_NAMED.bind_typing = BindTyping.NONE  # no ::TYPE casts after the placeholders


def _combined(ops: list[_Op]) -> TextClause:
    types: dict[str, Any] = {}

    def namer(i: int) -> Any:
        def name(r: int, c: str) -> str:
            n = f"w{i}_{r}_{c}"
            types[n] = ops[i].table.c[c].type
            return n

        return name

    stmts = [_dml(op, namer(i)) for i, op in enumerate(ops)]
    if ops[-1].lease:
        types[_LEASE] = ops[-1].table.c.next_attempt_at.type
    # PostgreSQL runs every data-modifying CTE whether or not it is referenced.
    stmt = stmts[-1].add_cte(*(s.cte(f"w{i}") for i, s in enumerate(stmts[:-1])))
    # As text: SQLAlchemy does not cache the compiled form of a multi-row
    # VALUES statement; rendered once per shape, only values are bound.
    sql = str(stmt.compile(dialect=_NAMED))
    return text(sql).bindparams(*(bindparam(n, type_=t) for n, t in types.items()))


def _single(op: _Op) -> Insert | Update:
    """One statement for the op, its rows passed as executemany parameters
    (for an UPDATE, named b_<column>)."""
    cols = tuple(op.rows[0])
    k = (op.table.name, _mode(op), op.key, cols)
    stmt = _SINGLE.get(k)
    if stmt is None:
        if op.key is None:
            stmt = insert(op.table)
        else:
            stmt = _dml(_Op(op.table, op.key, op.rows[:1], op.add), lambda r, c: f"b_{c}")
        _SINGLE[k] = stmt
    return stmt


def transient(entity: type[_E], row: Any) -> tuple[_E, dict[str, Any]]:
    """A row read by `DriverStatement.fetch_in` (all the entity's columns)
    as an entity the session does not hold, and the values it was read with
    (for `Writes.save`), by the columns' keys. A change is seen when an
    attribute is given a new value, not when a JSON or ARRAY value is
    changed in place. Built with the entity's own constructor: 33 µs for a
    filing's 34 columns. Through a session, eia-svc's accept spent 3.8 ms
    from the lock to the written change; so, 1.7 ms (bench/RESULTS.md,
    2026-12-04)."""
    found = by_name(row)
    table = cast(Table, entity.__table__)  # type: ignore[attr-defined]
    loaded = {c.key: found[c.name] for c in table.columns}
    return entity(**loaded), loaded


def changed(entity: Any, loaded: dict[str, Any]) -> dict[str, Any]:
    """The columns of `entity` whose value differs from `loaded`'s."""
    return {k: v for k, old in loaded.items() if (v := getattr(entity, k)) != old}
