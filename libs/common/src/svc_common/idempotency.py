"""Every write request is one unit of work, and its Idempotency-Key answer is
stored in that same transaction.

For POST, PUT, PATCH and DELETE the middleware opens the request's unit of
work (`Database.unit_of_work`): the route's transactions join it, its answer
is held back until the unit commits, and a commit that fails becomes a 503
with nothing written. With an `Idempotency-Key` (scoped to the caller, the
token's `sub`; replayed only to a token of the same role, districts and
enterprise (a filer's `uscc`), or a caller whose rights changed would be
given what it may no longer see) the answer is stored in that unit too, so a
crash leaves either no effect (a retry runs the request) or the effect with
its answer (a retry replays it). There is
no claim to go stale: a twin request racing the first waits on the key's
unique index and, when the first commits, rolls its own effect back and
replays the first answer. Reusing a key for another request is a 422; 5xx
answers are not stored, so a retry can succeed.

A write whose effect commits in a group commit of its own
(svc_common.batching) commits outside the request's unit. Its route keeps
the answer with the effect instead (应答随效果提交): the operation renders
the answer before its last write and hands it to that write
(`Writes.answer`), which stores it in the same statement as the effect, so
they commit together, in one round trip with the rest. A twin request that
stored its answer first makes that statement fail on the key's unique index:
the effect is undone with it, the request is refused (a 409), and storing
that refusal meets the twin's answer, which is replayed (or a 422 given if
the twin was another request). A route that keeps no answer with its effect
(a refusal, a request found already done) has its answer stored after, as
above.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Table, bindparam, insert, select, text
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from svc_common import faults, i18n
from svc_common.batching import InsertsTogether, LookupsTogether
from svc_common.db import Database, DriverStatement, Unit
from svc_common.errors import (
    PROBLEM_JSON,
    FieldError,
    Problem,
    Unauthorized,
    Unavailable,
    scope_problem,
)
from svc_common.failures import TransientFailure, is_transient, is_unique_violation
from svc_common.guard import replayed
from svc_common.routes import allowed_methods, keeps_answer
from svc_common.tables import IdempotencyRecord
from svc_common.types import utcnow

# Core statements on the table, built once: every write request runs them, and
# the ORM's statement handling costs more than the round trip on this path.
_RECORDS: Table = IdempotencyRecord.__table__  # type: ignore[assignment]
_LOOKUP = DriverStatement(
    select(
        _RECORDS.c.request_hash,
        _RECORDS.c.status_code,
        _RECORDS.c.response_body,
        _RECORDS.c.content_type,
        _RECORDS.c.response_bytes,
        _RECORDS.c.response_headers,
    ).where(_RECORDS.c.owner == bindparam("owner"), _RECORDS.c.key == bindparam("key"))
)
#: The lookup of many keys at once (svc_common.batching.LookupsTogether):
#: each row found, with its key first.
_LOOKUP_MANY = DriverStatement(
    text(
        "SELECT r.owner, r.key, r.request_hash, r.status_code, r.response_body, r.content_type,"
        " r.response_bytes, r.response_headers"
        " FROM idempotency_keys AS r"
        " JOIN unnest(CAST(:owners AS VARCHAR[]), CAST(:keys AS VARCHAR[])) AS k(owner, key)"
        " ON r.owner = k.owner AND r.key = k.key"
    )
)
_STORE = DriverStatement(
    insert(_RECORDS).values(
        {c: bindparam(c) for c in ("owner", "key", "method", "path", "request_hash")}
        | {c: bindparam(c) for c in ("status_code", "response_body", "content_type", "created_at")}
        | {c: bindparam(c) for c in ("response_bytes", "response_headers")}
    )
)

log = structlog.get_logger(__name__)


def _lookups(db: Database) -> LookupsTogether:
    """The database's Idempotency-Key lookups, sent together (svc_common.batching)."""
    return db.helper(
        "idempotency.lookups",
        lambda: LookupsTogether(db, _LOOKUP, _LOOKUP_MANY, ("owner", "key")),
    )


def _stores(db: Database) -> InsertsTogether:
    """The database's stored answers, sent together (svc_common.batching)."""
    return db.helper("idempotency.stores", lambda: InsertsTogether(db, _STORE))


HEADER = b"idempotency-key"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Longest key accepted (400 beyond): the IETF draft leaves it to the server.
MAX_KEY_LENGTH = 255


#: An answer as this middleware holds it: status, body, content type, the
#: route's other headers.
Answer = tuple[int, bytes, str, list[tuple[bytes, bytes]]]


@dataclass
class PendingAnswer:
    """The answer a request with an Idempotency-Key is to store, while its
    route runs (see the module's docstring): what the key's record is made
    of, and what became of an answer kept with the effect."""

    owner: str
    key: str
    method: str
    path: str
    request_hash: str
    #: The request's unit of work, which stores the answer of whatever
    #: joined it (the middleware, after the route).
    unit: Unit | None = None
    #: The answer stored with the effect, once that transaction committed.
    kept: Answer | None = None
    #: The language the request is answered in: a replay says it.
    language: i18n.Lang = i18n.DEFAULT


_PENDING: ContextVar[PendingAnswer | None] = ContextVar("idempotency-pending", default=None)


def answer_to_keep(
    response: Response, session: object
) -> tuple[dict[str, Any], Callable[[], None]] | None:
    """The record that stores `response` as the current request's answer,
    to write with its effect in `session` (`Writes.answer`), and what to
    call once that transaction committed; None when the request has no
    answer to keep there: no Idempotency-Key, not on PostgreSQL on asyncpg,
    or `session` is the request's own unit of work (group commits turned
    off), where the middleware stores the answer with the effect anyway."""
    pending = _PENDING.get()
    if pending is None or (pending.unit is not None and pending.unit.holds(session)):
        return None
    answer = _answer_of(response)

    def kept() -> None:
        pending.kept = answer

    return _record(pending, answer), kept


def _answer_of(response: Response) -> Answer:
    """A route's response as this middleware holds an answer (see `_call`)."""
    ctype = "application/json"
    extra: list[tuple[bytes, bytes]] = []
    for k, v in response.raw_headers:
        lk = k.lower()
        if lk == b"content-type":
            ctype = v.decode("latin-1")
        elif lk != b"content-length":
            extra.append((k, v))
    return response.status_code, bytes(response.body), ctype, extra


def _record(pending: PendingAnswer, answer: Answer) -> dict[str, Any]:
    """The key's record holding `answer`."""
    status, payload, ctype, extra = answer
    if pending.language != i18n.DEFAULT:
        # Only an answer not in the default language stores its own: a
        # replay without one was given in the default.
        extra = [*extra, (b"content-language", i18n.CONTENT_LANGUAGE[pending.language])]
    text_body, binary_body = _stored_body(payload)
    return {
        "owner": pending.owner,
        "key": pending.key,
        "method": pending.method,
        "path": pending.path,
        "request_hash": pending.request_hash,
        "status_code": status,
        "response_body": text_body,
        "response_bytes": binary_body,
        "response_headers": (
            json.dumps([[k.decode("latin-1"), v.decode("latin-1")] for k, v in extra])
            if extra
            else None
        ),
        "content_type": ctype,
        "created_at": utcnow(),
    }


class _KeyProblem(Problem):
    """A refused Idempotency-Key, named in `errors` as every refused field
    is (a header here), with why: a client listing a 4xx's errors has the
    field to show, not only the detail."""

    error_type = "idempotency_key"

    def __init__(self, detail: str) -> None:
        error = FieldError(field="Idempotency-Key", message=detail, type=self.error_type)
        super().__init__(detail, errors=[error])


class KeyInvalid(_KeyProblem):
    code, error_type = "idempotency-key-invalid", "idempotency_key_invalid"


class KeyReused(_KeyProblem):
    status, code, title = 422, "idempotency-key-reused", "Unprocessable request"
    error_type = "idempotency_key_reused"


def _answer(scope: Scope, problem: Problem) -> Answer:
    """A problem as an answer of this middleware (status, body, type,
    headers), with `instance` and `request_id` as every problem has."""
    response = scope_problem(problem, scope)
    extra = [(k, v) for k, v in response.raw_headers if k.lower() == b"retry-after"]
    return problem.status, bytes(response.body), PROBLEM_JSON, extra


def unavailable(scope: Scope) -> Answer:
    return _answer(
        scope,
        Unavailable(
            i18n.msg(
                "the database is unavailable; nothing was written, retry shortly",
                "数据库暂不可用，本次请求未写入任何数据，请稍后重试",
            )
        ),
    )


def key_problem(raw: bytes) -> Problem | None:
    """Why an Idempotency-Key header is unusable, or None. Also what a
    client here (the console) checks a key by before sending it: a key
    that is not ASCII cannot be sent at all."""
    if not raw or len(raw) > MAX_KEY_LENGTH:
        return KeyInvalid(
            i18n.msg(
                f"Idempotency-Key must have 1 to {MAX_KEY_LENGTH} characters",
                f"Idempotency-Key 须为 1 至 {MAX_KEY_LENGTH} 个字符",
            ),
        )
    if not all(0x21 <= b <= 0x7E for b in raw):
        return KeyInvalid(
            i18n.msg(
                "Idempotency-Key must be printable ASCII with no spaces",
                "Idempotency-Key 只能由可打印 ASCII 字符组成，且不含空格",
            ),
        )
    return None


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        db: Database | None = getattr(state, "db", None)
        if db is None:  # not started (lifespan not run): nothing to join
            await self.app(scope, receive, send)
            return
        methods = allowed_methods(scope["app"], scope["path"])
        if methods is None or scope["method"] not in methods:
            # No route: the app answers 404 or 405, and no key is looked at.
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER)
        key: str | None = None
        owner: str | None = None
        rights = ""
        if raw_key is not None:
            if (problem := key_problem(raw_key)) is not None:
                await _respond(send, *_answer(scope, problem))
                return
            owner, rights = _owner(state, headers)
            key = raw_key.decode("ascii") if owner is not None else None
        body = await _read_body(receive)
        digest = _digest(scope, body, rights) if key else ""
        try:
            await self._run(db, scope, receive, send, body, owner, key, digest)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("write request failed: database unavailable", error=repr(exc))
            await _respond(send, *unavailable(scope))

    async def _run(
        self,
        db: Database,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        owner: str | None,
        key: str | None,
        digest: str,
    ) -> None:
        answer: Answer | None = None
        # A route that keeps its answer with its every effect needs no
        # lookup first: a key already answered fails its write on the key's
        # unique index, which undoes the effect, and storing the refusal
        # then finds the first answer (see the module's docstring).
        look_up = (
            owner is not None
            and key is not None
            and not (db.on_asyncpg and keeps_answer(scope["app"], scope["method"], scope["path"]))
        )
        async with db.unit_of_work() as unit:
            if look_up and owner is not None and key is not None:
                answer = await _stored(db, unit, scope, owner, key, digest)
            if answer is None:
                pending = None
                if owner is not None and key is not None and db.on_asyncpg:
                    # What a route may keep with an effect it commits in a
                    # group commit of its own (`answer_to_keep`).
                    pending = PendingAnswer(
                        owner,
                        key,
                        scope["method"],
                        scope["path"][:500],
                        digest,
                        unit,
                        language=i18n.lang(),
                    )
                token = _PENDING.set(pending)
                try:
                    captured = await _call(self.app, scope, body, receive)
                finally:
                    _PENDING.reset(token)
                answer = await _settle(db, unit, scope, owner, key, digest, captured, pending)
        status, payload, ctype, extra = answer
        await _respond(send, status, payload, ctype, extra)


async def _settle(
    db: Database,
    unit: Unit,
    scope: Scope,
    owner: str | None,
    key: str | None,
    digest: str,
    captured: Answer,
    pending: PendingAnswer | None,
) -> Answer:
    """The answer to send, once the route has run: its effect and its
    answer committed (or undone, for a 5xx)."""
    if pending is not None and pending.kept is not None:
        # Stored with the effect, committed: what a retry will be given.
        answer = pending.kept
    elif captured[0] >= 500:
        await db.rollback(unit)
        return captured
    else:
        if owner is not None and key is not None:
            first = await _store(db, unit, owner, key, scope, digest, captured)
            if first is not None:  # a twin's, this request's effect undone
                return first
        answer = captured
    await db.commit(unit)
    faults.crash_after_commit(scope["path"])
    return answer


def _owner(state: Any, headers: dict[bytes, bytes]) -> tuple[str | None, str]:
    """The caller a key is scoped to (None without a valid token: the route
    then answers 401 and nothing is stored), and the rights its token gives
    (role, districts and a filer's enterprise), which are part of the
    request: an answer is replayed only to a token that may still be given
    it."""
    auth = headers.get(b"authorization", b"")
    if auth[:7].lower() != b"bearer ":
        return None, ""
    try:
        caller = state.token_verifier.verify(auth[7:].strip().decode("ascii"))
    except (Unauthorized, UnicodeDecodeError):
        return None, ""
    rights = f"{caller.role}:{','.join(sorted(caller.districts))}"
    # Written only when there is one: the rights of every other token, and
    # so the keys already stored, read as they did.
    return str(caller.sub), rights + (f":{caller.uscc}" if caller.uscc else "")


def _digest(scope: Scope, body: bytes, rights: str) -> str:
    return hashlib.sha256(
        b"\0".join(
            [
                scope["method"].encode(),
                scope["path"].encode(),
                scope.get("query_string", b""),
                rights.encode(),
                body,
            ]
        )
    ).hexdigest()


async def _on_record(
    db: Database, unit: Unit, statement: DriverStatement, params: dict[str, Any]
) -> list[Sequence[Any]]:
    """Run a statement on the key's record where it belongs: in the
    request's unit of work, or on PostgreSQL, while the unit holds no
    transaction, as one autocommit statement on the driver outside it. The
    unit holds none before the route runs, and after it when the route wrote
    nothing in it (its effect committed in a group commit of its own,
    svc_common.batching): then the statement needs no BEGIN and COMMIT, and
    the lookup holds no connection while the handler runs (it may wait for a
    group commit that needs one)."""
    if db.is_postgres and not unit.begun:
        return await db.fetch_alone(statement, params)
    result = await (await unit.session.connection()).execute(statement.statement, params)
    return list(result.all()) if result.returns_rows else []


async def _stored(
    db: Database, unit: Unit, scope: Scope, owner: str, key: str, digest: str
) -> Answer | None:
    """The answer to replay for this key, a 422 for a reused key, or None."""
    # A twin racing past this lookup is caught by the key's unique index
    # when the answer is stored.
    if db.on_asyncpg and not unit.begun:
        # Outside the unit's transaction (before the route runs, or after a
        # group commit): with the lookups of the other requests of the moment.
        record = await _lookups(db).get((owner, key))
    else:
        found = await _on_record(db, unit, _LOOKUP, {"owner": owner, "key": key})
        record = found[0] if found else None
    if record is None:
        return None
    request_hash, status_code, response_body, content_type, response_bytes, headers = record
    if request_hash != digest:
        return _answer(
            scope,
            KeyReused(
                i18n.msg(
                    "this Idempotency-Key was already used for a different request: a retry "
                    "must send the same method, path, query and body, byte for byte (the same "
                    "JSON with other spacing or key order is another request)",
                    "此 Idempotency-Key 已用于另一个不同的请求：重试须逐字节发送相同的方法、路径、"
                    "查询参数和请求体（同样的 JSON 换了空白或键的顺序，也算另一个请求）",
                )
            ),
        )
    body = bytes(response_bytes) if response_bytes is not None else (response_body or "").encode()
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in json.loads(headers or "[]")]
    if not any(k == b"content-language" for k, _ in extra):
        extra.append((b"content-language", i18n.CONTENT_LANGUAGE[i18n.DEFAULT]))
    return (
        status_code or 200,
        body,
        content_type or "application/json",
        [*extra, (b"idempotent-replayed", b"true")],
    )


async def _store(
    db: Database,
    unit: Unit,
    owner: str,
    key: str,
    scope: Scope,
    digest: str,
    captured: Answer,
) -> Answer | None:
    """Store the answer in the request's unit of work. If a twin request with
    the key committed first, undo this one's effect and give the first answer."""
    key_of = PendingAnswer(
        owner, key, scope["method"], scope["path"][:500], digest, language=i18n.lang()
    )
    params = _record(key_of, captured)
    try:
        if db.on_asyncpg and not unit.begun:
            # After a group commit: every request of the batch stores at once.
            await _stores(db).insert(params)
        else:
            await _on_record(db, unit, _STORE, params)
    except Exception as exc:
        if not is_unique_violation(exc):
            raise
        await db.rollback(unit)
        first = await _stored(db, unit, scope, owner, key, digest)
        if first is None:
            # The key's record went between the conflict and the lookup (a
            # retention sweep): this request's effect is undone, so it must
            # not be answered as done. The client retries.
            raise TransientFailure("the Idempotency-Key record changed under the request") from exc
        return first
    return None


def _stored_body(payload: bytes) -> tuple[str | None, bytes | None]:
    """The answer's body as text when it is text (JSON, CSV), else as bytes:
    an `.xlsx` report is not UTF-8 and holds NUL bytes, which PostgreSQL
    refuses in a text column and a lenient decoding would mangle."""
    try:
        text_body = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None, payload
    if "\x00" in text_body:
        return None, payload
    return text_body, None


async def _call(app: ASGIApp, scope: Scope, body: bytes, receive: Receive) -> Answer:
    """Run the route with its answer held back (sent only after the commit)."""
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, replayed(body, receive), capture)
    ctype = "application/json"
    extra: list[tuple[bytes, bytes]] = []
    for k, v in headers:
        lk = k.lower()
        if lk == b"content-type":
            ctype = v.decode("latin-1")
        elif lk != b"content-length":
            extra.append((k, v))
    return status, b"".join(chunks), ctype, extra


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    ctype: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})
