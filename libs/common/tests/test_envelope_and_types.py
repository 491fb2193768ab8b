"""Pure rules of the shared library: the CloudEvents Kafka binding, the
amount types, the registry's schemas, tokens."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from svc_common.auth import TokenVerifier, mint_token
from svc_common.errors import Unauthorized
from svc_common.events.envelope import Envelope, message_of
from svc_common.events.registry import load_all
from svc_common.events.schemas.permit import PermitCancelled, PermitChanged
from svc_common.outbox import build_envelope, outbox_rows
from svc_common.settings import DEV_JWT_SECRET, ServiceSettings
from svc_common.types import (
    AwareDateTime,
    Day,
    RecordTime,
    SignedTonnes,
    Tonnes,
    TotalTonnes,
    _fmt2,
    _fmt3,
    kg_to_tonnes,
    tonnes_to_kg,
)

TONNES = TypeAdapter(Tonnes)


def _cancelled() -> PermitCancelled:
    return PermitCancelled(
        permit_id="p-1",
        permit_no="X",
        uscc="91120000MA05KXXXXX",
        enterprise_name="甲厂",
        district="120119",
        reason="closure",
        pollutants_freed=[],
        vocs_freed_t=Decimal("12.5"),
    )


def test_binary_mode_headers_key_and_round_trip() -> None:
    payload = _cancelled()
    env = build_envelope(payload)
    msg = env.to_message("permit.events")
    headers = dict(msg.headers)
    assert msg.key == "p-1" == env.partitionkey
    assert headers["content-type"] == b"application/json"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"permit.cancelled.v1"
    assert headers["ce_source"] == b"urn:envbureau:permit-svc"
    assert "ce_correlationid" in headers and "ce_traceparent" in headers
    assert b'"vocs_freed_t":"12.500"' in msg.value  # a string, never a float
    assert "甲厂".encode() in msg.value
    back = Envelope.from_message(msg)
    assert back == env


def test_a_permit_event_names_its_actor_and_older_ones_still_read() -> None:
    """`actor` on permit.cancelled / permit.changed (who freed the amounts:
    quota-svc's four eyes on their reclaim) is optional: an event sent
    before it reads with None, and the field is not required by the schema."""
    payload = _cancelled().model_copy(update={"actor": "officer.wang"})
    back = Envelope.from_message(build_envelope(payload).to_message("permit.events"))
    assert back.data["actor"] == "officer.wang"
    assert PermitCancelled.model_validate(back.data) == payload
    older = {k: v for k, v in back.data.items() if k != "actor"}
    assert PermitCancelled.model_validate(older).actor is None
    changed = PermitChanged(
        permit_id="p-1",
        permit_no="X",
        uscc="91120000MA05KXXXXX",
        enterprise_name="甲厂",
        district="120119",
        pollutant_changes=[],
        vocs_delta_t=Decimal("-1"),
    )
    assert changed.actor is None
    schemas = load_all().json_schemas()
    for event_type in ("permit.cancelled.v1", "permit.changed.v1"):
        assert "actor" in schemas[event_type]["properties"]
        assert "actor" not in schemas[event_type]["required"]


def test_an_outbox_row_s_envelope_makes_the_message_its_model_makes() -> None:
    """The relay sends the rows its own commits handed over without
    validating their envelopes again (`message_of`): the same message,
    headers in the same order, as the model's; with the subject absent (None,
    so no header) and in any key order, as PostgreSQL's JSONB keeps them."""
    payload = _cancelled()
    env = build_envelope(payload).model_copy(update={"subject": None})
    (row,) = outbox_rows([payload])
    for envelope in (
        {**env.model_dump(mode="json", exclude={"data"}), "data": env.data},
        dict(reversed(row["envelope"].items())),  # type: ignore[attr-defined]
    ):
        expected = Envelope.model_validate(envelope).to_message("permit.events")
        assert message_of(envelope, "permit.events") == expected
    assert "ce_subject" not in dict(message_of(env.model_dump(mode="json"), "t").headers)


@given(st.decimals(min_value=0, max_value=999_999, places=3, allow_nan=False))
def test_tonnes_round_trip_through_kilograms(t: Decimal) -> None:
    parsed = TONNES.validate_python(str(t))
    assert kg_to_tonnes(tonnes_to_kg(parsed)) == parsed


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1.2345", "at most 3 decimals"),
        ("-1", "negative"),
        ("-0", "negative"),  # the document's pattern has no sign: nor has the API
        ("-0.000", "negative"),
        ("abc", "decimal number"),
        ("1000000.001", "implausibly large"),
        ("1e2", "decimal number"),
        ("1_000", "decimal number"),
        (" 7 ", "decimal number"),
        ("+3", "decimal number"),
        ("٣", "decimal number"),  # Arabic-Indic three
        ("７", "decimal number"),  # full-width seven
        ("NaN", "decimal number"),
        ("Infinity", "decimal number"),
        ("1" * 30, "implausibly large"),
        ("1" * 41, "decimal number"),  # past any amount's length: not read
        ("1.0000", "at most 3 decimals"),  # four written, whatever they are
        ("0000001", "does not match the pattern"),  # more digits than it allows
        ("7\n", "decimal number"),
        (True, "decimal number"),
        (0.1, "decimal number"),  # a JSON number: amounts are strings
        (7, "decimal number"),
        (None, "decimal number"),
    ],
)
def test_tonnes_rejects_bad_amounts(raw: object, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        TONNES.validate_python(raw)
    assert message in str(err.value)


def test_tonnes_are_decimal_strings_exactly() -> None:
    assert TONNES.validate_python("0.1") == Decimal("0.100")
    assert TONNES.validate_python("2.50") == Decimal("2.500")
    assert TONNES.validate_python("1000000") == Decimal("1000000.000")
    assert TONNES.dump_json(Decimal("3")) == b'"3.000"'


def test_a_signed_zero_is_written_zero() -> None:
    """ "-0" was kept as Decimal('-0.000') and written back "-0.000"."""
    for t in (SignedTonnes, TotalTonnes):
        ta: TypeAdapter[Decimal] = TypeAdapter(t)
        assert ta.dump_json(ta.validate_python("-0")) == b'"0.000"'
        assert ta.dump_json(ta.validate_python("-0.5")) == b'"-0.500"'


def test_every_event_has_a_json_schema_and_asyncapi_channel() -> None:
    reg = load_all()
    schemas = reg.json_schemas()
    assert {"permit.cancelled.v1", "quota.reserved.v1", "eia.filing.accepted.v1"} <= set(schemas)
    doc = reg.asyncapi()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert {"permit.events", "quota.events", "eia.events"} <= addresses
    for t in reg.types():
        assert t.rsplit(".", 1)[-1].startswith("v"), f"{t} is not versioned"


def test_tokens_verify_and_reject() -> None:
    verifier = TokenVerifier(ServiceSettings())
    tok = mint_token(DEV_JWT_SECRET, sub="li.hua", role="officer", districts=["120119"])
    p = verifier.verify(tok)
    assert (p.sub, p.role, p.districts) == ("li.hua", "officer", frozenset({"120119"}))
    assert p.may_act_in("120119") and not p.may_act_in("120115")
    with pytest.raises(Unauthorized):
        verifier.verify(
            mint_token("another-secret-of-enough-length-0123456789", sub="x", role="officer")
        )
    expired = mint_token(DEV_JWT_SECRET, sub="x", role="admin", ttl=dt.timedelta(seconds=-1))
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(expired)
    soon = int(time.time()) + 600
    bad_role = jwt.encode({"sub": "x", "role": "king", "exp": soon}, DEV_JWT_SECRET)
    with pytest.raises(Unauthorized, match="role"):
        verifier.verify(bad_role)
    # An officer with no districts acts nowhere; an auditor with none reads everywhere.
    officer = verifier.verify(mint_token(DEV_JWT_SECRET, sub="o", role="officer"))
    auditor = verifier.verify(mint_token(DEV_JWT_SECRET, sub="a", role="auditor"))
    assert not officer.may_act_in("120119") and auditor.may_act_in("120119")


@pytest.mark.parametrize(
    "districts", [False, 0, "", None, "120119", [120119], {"a": 1}, ["120119\n"], ["12011"]]
)
def test_a_districts_claim_that_is_not_a_list_of_codes_is_refused(districts: object) -> None:
    """Not read as citywide when it is blank or null: only an absent claim is."""
    verifier = TokenVerifier(ServiceSettings())
    claims = {"sub": "t.x", "role": "admin", "districts": districts, "exp": int(time.time()) + 600}
    with pytest.raises(Unauthorized, match="districts"):
        verifier.verify(jwt.encode(claims, DEV_JWT_SECRET))
    absent = {"sub": "t.x", "role": "admin", "exp": int(time.time()) + 600}
    assert verifier.verify(jwt.encode(absent, DEV_JWT_SECRET)).districts == frozenset()


def test_a_token_living_longer_than_allowed_is_refused() -> None:
    # The longest `bureau token` mints (720 hours) is accepted; a token good
    # for years is not, whatever its signature, and the caller is told why.
    verifier = TokenVerifier(ServiceSettings())
    longest = mint_token(DEV_JWT_SECRET, sub="m", role="filer", ttl=dt.timedelta(hours=720))
    assert verifier.verify(longest).sub == "m"
    for ttl in (dt.timedelta(hours=721), dt.timedelta(days=3650)):
        forever = mint_token(DEV_JWT_SECRET, sub="m", role="filer", ttl=ttl)
        with pytest.raises(Unauthorized, match="720 hours") as refused:
            verifier.verify(forever)
        assert 'error="invalid_token"' in (refused.value.www_authenticate or "")
    # PyJWT reads `exp` with int(), a string of digits included: such an
    # `exp` is no JSON number, and the token not valid at all.
    spelled = jwt.encode(
        {"sub": "m", "role": "filer", "exp": str(int(time.time()) + 10 * 365 * 86400)},
        DEV_JWT_SECRET,
    )
    with pytest.raises(Unauthorized, match="the token is not valid"):
        verifier.verify(spelled)
    shorter = TokenVerifier(ServiceSettings(jwt_max_lifetime_hours=1))
    two_hours = mint_token(DEV_JWT_SECRET, sub="m", role="filer", ttl=dt.timedelta(hours=2))
    with pytest.raises(Unauthorized, match="more than 1 hour from now"):
        shorter.verify(two_hours)


def test_a_token_with_a_time_no_clock_can_hold_is_not_valid() -> None:
    # An `exp` too large for a float (a 400-digit integer, or the same as a
    # string of digits) was an OverflowError, a 500 on every route; `iat`
    # and `nbf` so large were refused by PyJWT already, and stay refused.
    verifier = TokenVerifier(ServiceSettings())
    huge, soon = int("9" * 400), int(time.time()) + 600
    for claims in (
        {"exp": huge},
        {"exp": "9" * 400},
        {"exp": soon, "iat": huge},
        {"exp": soon, "iat": "9" * 400},
        {"exp": soon, "nbf": huge},
        {"exp": soon, "nbf": "9" * 400},
    ):
        tok = jwt.encode({"sub": "m", "role": "filer", **claims}, DEV_JWT_SECRET)
        with pytest.raises(Unauthorized, match="the token is not valid") as refused:
            verifier.verify(tok)
        assert 'error="invalid_token"' in (refused.value.www_authenticate or ""), claims


def test_a_token_minted_by_a_clock_a_little_ahead_is_valid() -> None:
    # An issuer whose clock runs two seconds ahead of this one mints `iat`
    # and `nbf` two seconds from now here: PyJWT refused them until then,
    # a 401 "the token is not valid" on the first page after signing in.
    # The same leeway as the lifetime's bound (60 s) is allowed; past it,
    # the refusal says why, in the caller's language.
    from svc_common.auth import LEEWAY_SECONDS
    from svc_common.i18n import use

    verifier = TokenVerifier(ServiceSettings())
    now = int(time.time())
    base = {"sub": "m", "role": "filer", "exp": now + 600}
    for claims in ({"iat": now + 2}, {"nbf": now + 2}, {"iat": now + 30, "nbf": now + 30}):
        tok = jwt.encode({**base, **claims}, DEV_JWT_SECRET)
        assert verifier.verify(tok).sub == "m", claims
    for name in ("iat", "nbf"):
        tok = jwt.encode({**base, name: now + LEEWAY_SECONDS + 30}, DEV_JWT_SECRET)
        with use("en"), pytest.raises(Unauthorized, match=f"not valid yet: its {name} is more"):
            verifier.verify(tok)
        with use("zh"), pytest.raises(Unauthorized, match=f"令牌尚未生效：其 {name}"):
            verifier.verify(tok)
    # An expired token gets no leeway: refused from its first second.
    expired = jwt.encode({**base, "exp": now - 1}, DEV_JWT_SECRET)
    with use("en"), pytest.raises(Unauthorized, match="the token has expired"):
        verifier.verify(expired)


@pytest.mark.parametrize(
    "sub",
    [
        "\ud800",  # a lone surrogate: no database, log line nor answer can hold it
        "li\udc00hua",
        "li\u202ehua",  # text-direction overrides, isolates and marks
        "li\u2066hua",
        "li.hua\u2069",
        "\u200eli.hua",
        "li.hua\u200f",
        "li\u061chua",
        "li\x80hua",  # C1 controls
        "li\x85hua",
        "li\x9f",
        "li\thua",  # a name is one line
        "li.hua\n",
        "li\u2028hua",
        "li\x00",
        "x" * 200,
        "system",
        "System ",
    ],
)
def test_a_subject_that_cannot_be_kept_or_reads_as_another_is_refused(sub: str) -> None:
    verifier = TokenVerifier(ServiceSettings())
    tok = jwt.encode({"sub": sub, "role": "officer", "exp": int(time.time()) + 600}, DEV_JWT_SECRET)
    with pytest.raises(Unauthorized, match=r"subject \(sub\) is not valid"):
        verifier.verify(tok)


def test_a_subject_in_any_script_is_accepted() -> None:
    verifier = TokenVerifier(ServiceSettings())
    for sub in ("李华", "li.hua", "wu_lei", "o'brien@example.org", "x" * 199, "user-张"):
        assert verifier.verify(mint_token(DEV_JWT_SECRET, sub=sub, role="officer")).sub == sub
    # A space, even inside, makes a second spelling of a name: refused.
    for spaced in ("wu lei", "wu\u3000lei"):
        with pytest.raises(Unauthorized, match="subject"):
            verifier.verify(mint_token(DEV_JWT_SECRET, sub=spaced, role="officer"))
    for blank in ("", "   "):
        tok = jwt.encode(
            {"sub": blank, "role": "officer", "exp": int(time.time()) + 600}, DEV_JWT_SECRET
        )
        with pytest.raises(Unauthorized, match="names no subject"):
            verifier.verify(tok)


def test_positive_tonnes_and_district_code_fields() -> None:
    from svc_common.districts import DistrictCode
    from svc_common.types import PositiveTonnes

    positive = TypeAdapter(PositiveTonnes)
    assert positive.validate_python("0.001") == Decimal("0.001")
    with pytest.raises(ValidationError, match="greater than 0"):
        positive.validate_python("0")
    with pytest.raises(ValidationError, match="at most 3 decimals"):
        positive.validate_python("1.0001")
    district = TypeAdapter(DistrictCode)
    assert district.validate_python("120119") == "120119"
    with pytest.raises(ValidationError, match="Tianjin's 16 district codes"):
        district.validate_python("110101")


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_kilograms_become_tonnes_exactly_to_three_places(kg: int) -> None:
    t = kg_to_tonnes(kg)
    assert t == Decimal(kg) / 1000 and t.as_tuple().exponent == -3
    assert _fmt3(t) == format((Decimal(kg) / 1000).quantize(Decimal("0.001")), "f")


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=5, max_value=10**9, min_value=-(10**9)
    )
)
def test_amounts_and_ratios_are_written_as_quantize_would(d: Decimal) -> None:
    assert _fmt3(d) == format(d.quantize(Decimal("0.001")), "f")
    assert _fmt2(d) == format(d.quantize(Decimal("0.01")), "f")


@pytest.mark.parametrize(
    ("value", "three", "two"),
    [
        ("0.0025", "0.002", "0.00"),
        ("0.0035", "0.004", "0.00"),
        ("0.125", "0.125", "0.12"),
        ("0.135", "0.135", "0.14"),
        ("-0.0005", "-0.000", "-0.00"),
        ("1E+4", "10000.000", "10000.00"),
    ],
)
def test_amounts_round_half_even_as_before(value: str, three: str, two: str) -> None:
    assert (_fmt3(Decimal(value)), _fmt2(Decimal(value))) == (three, two)


def test_a_sum_that_is_not_an_int_is_still_tonnes_to_three_places() -> None:
    # PostgreSQL's SUM(bigint) can come back as Decimal("1E+4").
    assert str(kg_to_tonnes(Decimal("1E+4"))) == "10.000"  # type: ignore[arg-type]
    assert str(kg_to_tonnes(Decimal("1500.5"))) == "1.500"  # type: ignore[arg-type]


def test_a_recorded_time_is_in_2000_to_2099_in_beijing_time() -> None:
    """The span is checked on the instant in Beijing time (the year a case
    number carries), not only on the date as written: `+14:00` on New
    Year's Day 2000 is still 1999 in Beijing."""
    record = TypeAdapter(RecordTime)
    utc = dt.UTC
    assert record.validate_python("2000-01-01T00:00:00+08:00") == dt.datetime(
        1999, 12, 31, 16, tzinfo=utc
    )
    assert record.validate_python("2099-12-31T23:59:59+08:00") == dt.datetime(
        2099, 12, 31, 15, 59, 59, tzinfo=utc
    )
    for outside in (
        "2000-01-01T00:00:00+14:00",
        "2000-01-01T00:59:59+09:00",
        "2099-12-31T23:00:00-10:00",
        "2099-12-31T16:00:00Z",
        dt.datetime(1999, 12, 31, 15, 59, tzinfo=utc),
        dt.datetime(2100, 1, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        dt.datetime(9999, 12, 31, 23, tzinfo=utc),
    ):
        with pytest.raises(ValidationError, match="in Beijing time"):
            record.validate_python(outside)


@pytest.mark.parametrize(
    ("adapter", "typed", "said"),
    [
        (Day, "２０２６-１２-０７", "must be a date as YYYY-MM-DD"),
        (Day, "2026-12-٠٧", "must be a date as YYYY-MM-DD"),
        (Day, "2026-02-30", "is not a real date"),
        (AwareDateTime, "２０２６-03-01T09:30:00+08:00", "must be an ISO 8601 date and time"),
        (AwareDateTime, "2026-02-30T09:30:00+08:00", "is not a real date and time"),
    ],
)
def test_a_date_in_other_digits_is_refused_for_its_form_not_as_unreal(
    adapter: object, typed: str, said: str
) -> None:
    """A date typed in full-width (or Arabic-Indic) digits is refused for
    how it is written (YYYY-MM-DD), not as a day that does not exist, which
    2026-12-07 does: only 2月30日 is not a real date."""
    with pytest.raises(ValidationError, match=said):
        TypeAdapter(adapter).validate_python(typed)


def test_a_filers_token_names_its_enterprise_or_is_refused() -> None:
    """The `uscc` claim: the enterprise a filer's token acts for, a unified
    social credit code checked as everywhere else; a malformed one is a
    401 saying so (null or blank is not read as no enterprise)."""
    from svc_common.i18n import use
    from svc_common.uscc import make_uscc

    verifier = TokenVerifier(ServiceSettings())
    code = make_uscc("120119", 42)
    p = verifier.verify(mint_token(DEV_JWT_SECRET, sub="erp.x", role="filer", uscc=code))
    assert (p.role, p.uscc) == ("filer", code)
    assert verifier.verify(mint_token(DEV_JWT_SECRET, sub="erp.y", role="filer")).uscc is None
    wrong_check = code[:17] + ("0" if code[17] != "0" else "1")
    base = {"sub": "erp.x", "role": "filer", "exp": int(time.time()) + 600}
    for bad in (wrong_check, code.lower(), code[:17], "", None, 42, [code]):
        tok = jwt.encode({**base, "uscc": bad}, DEV_JWT_SECRET)
        with use("en"), pytest.raises(Unauthorized, match="uscc claim") as refused:
            verifier.verify(tok)
        assert 'error="invalid_token"' in (refused.value.www_authenticate or ""), bad
    tok = jwt.encode({**base, "uscc": wrong_check}, DEV_JWT_SECRET)
    said = "uscc 声明不是有效的统一社会信用代码：校验码"
    with use("zh"), pytest.raises(Unauthorized, match=said):
        verifier.verify(tok)
    # Minting refuses what no service would take, and a claim no role but a
    # filer's reads.
    with pytest.raises(ValueError, match="unified social credit code"):
        mint_token(DEV_JWT_SECRET, sub="erp.x", role="filer", uscc=wrong_check)
    with pytest.raises(ValueError, match="only a filer"):
        mint_token(DEV_JWT_SECRET, sub="o", role="officer", uscc=code)


def test_a_verified_uscc_is_cached_with_its_token() -> None:
    """The claim is read once, when the token is verified: the next use of
    the same token is the cache's, its enterprise with it."""
    from svc_common.uscc import make_uscc

    verifier = TokenVerifier(ServiceSettings())
    tok = mint_token(DEV_JWT_SECRET, sub="erp.x", role="filer", uscc=make_uscc("120119", 43))
    first = verifier.verify(tok)
    assert verifier.verify(tok) is first and first.uscc == make_uscc("120119", 43)


def test_a_filers_enterprise_scopes_the_records_it_finds() -> None:
    """`found_of_enterprise`: a filer finds its own enterprise's record;
    another enterprise's is not found, in the same words; a filer naming no
    enterprise is refused (403); other roles are held by districts only."""
    from dataclasses import dataclass as record

    from svc_common.auth import Principal
    from svc_common.errors import Forbidden, NotFound

    @record
    class Rec:
        district: str
        uscc: str

    mine, theirs = Rec("120119", "A" * 18), Rec("120119", "B" * 18)
    filer = Principal("erp.x", "filer", uscc="A" * 18)
    assert filer.found_of_enterprise(mine, "none") is mine
    with pytest.raises(NotFound, match=r"^none$"):
        filer.found_of_enterprise(theirs, "none")
    with pytest.raises(NotFound, match=r"^none$"):
        Principal("erp.x", "filer", frozenset({"120115"}), uscc="A" * 18).found_of_enterprise(
            mine, "none"
        )
    with pytest.raises(Forbidden, match="names no enterprise"):
        Principal("erp.y", "filer").found_of_enterprise(mine, "none")
    officer = Principal("li.hua", "officer", frozenset({"120119"}))
    assert officer.found_of_enterprise(theirs, "none") is theirs
