"""The writes of one transaction's last step, sent together: on PostgreSQL as
one statement (data-modifying CTEs: one round trip for the journal entries,
the pool balance, the reservation, the outbox rows and the audit entry, run
on the driver inside the transaction: `DriverStatement.fetch_in`),
elsewhere (SQLite), or for many rows, one statement per table. Either way
the rows of one INSERT go in in order (journal ids, outbox seq).

In a batch on the driver (svc_common.batching) the one statement is left
for the batch's end (`execute(conn, later)`), where the batch's operations
of the same shape go in one pipelined `executemany`.

Statements are built once per shape (which tables, which columns, how many
rows) and cached, so a request only binds values.

A row to change is locked and read with a `DriverStatement` (`fetch_in`)
and held as a `transient` entity: the session never holds it (no identity
map, no flush), the domain code reads and sets its attributes as on a
loaded one, and `save` writes back the columns that changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import Insert, Table, TextClause, Update, bindparam, insert, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from svc_common.batching import BatchWrites
from svc_common.db import DriverConnection, DriverStatement, by_name
from svc_common.events.registry import EventPayload
from svc_common.outbox import outbox_rows
from svc_common.tables import AuditEntry, OutboxRow

_E = TypeVar("_E")
_OUTBOX = cast(Table, OutboxRow.__table__)
_AUDIT = cast(Table, AuditEntry.__table__)

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


class Writes:
    """INSERTs and keyed UPDATEs collected in order, then `execute`d."""

    def __init__(self) -> None:
        self._ops: list[_Op] = []

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

    def events(self, session: AsyncSession, payloads: Sequence[EventPayload]) -> None:
        """The outbox rows of `payloads` (the relay is woken after the commit)."""
        self.insert(_OUTBOX, outbox_rows(session, payloads))

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
        if not ops:
            return
        if (
            conn.dialect.name == "postgresql"
            and len(ops) > 1
            and sum(len(op.rows) for op in ops) <= MAX_COMBINED_ROWS
            and all(op.key is None or len(op.rows) == 1 for op in ops)
            # The parts run on one snapshot and cannot see each other's rows:
            # at most one part per table.
            and len({op.table.name for op in ops}) == len(ops)
        ):
            shape: _Shape = tuple(
                (op.table.name, _mode(op), op.key, tuple(op.rows[0]), len(op.rows)) for op in ops
            )
            stmt = _COMBINED.get(shape)
            if stmt is None:
                stmt = _COMBINED[shape] = DriverStatement(_combined(ops))
            params = {
                f"w{i}_{r}_{col}": value
                for i, op in enumerate(ops)
                for r, row in enumerate(op.rows)
                for col, value in row.items()
            }
            if later is not None and isinstance(conn, DriverConnection):
                later.add(stmt, conn, params)
                return
            await stmt.fetch_in(conn, params)
            return
        for op in ops:
            rows = op.rows
            if op.key is not None:
                rows = [{f"b_{c}": v for c, v in row.items()} for row in rows]
            await conn.execute(_single(op), rows)


_COMBINED: dict[_Shape, DriverStatement] = {}
_SINGLE: dict[tuple[str, str, str | None, tuple[str, ...]], Insert | Update] = {}


def _mode(op: _Op) -> str:
    return "i" if op.key is None else "a" if op.add else "u"


def _dml(op: _Op, name: Any) -> Insert | Update:
    """The op's statement with bind parameters named by `name(row, column)`."""
    t, cols = op.table, tuple(op.rows[0])
    if op.key is None:
        values = [
            {c: bindparam(name(r, c), type_=t.c[c].type) for c in cols} for r in range(len(op.rows))
        ]
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
