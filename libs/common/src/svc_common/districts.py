"""The districts the bureau acts in: Tianjin's 16 (GB/T 2260 codes), the one
list every service checks district codes against."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, WithJsonSchema

from svc_common.i18n import msg

DISTRICTS: dict[str, str] = {
    "120101": "和平区",
    "120102": "河东区",
    "120103": "河西区",
    "120104": "南开区",
    "120105": "河北区",
    "120106": "红桥区",
    "120110": "东丽区",
    "120111": "西青区",
    "120112": "津南区",
    "120113": "北辰区",
    "120114": "武清区",
    "120115": "宝坻区",
    "120116": "滨海新区",
    "120117": "宁河区",
    "120118": "静海区",
    "120119": "蓟州区",
}

#: The districts' English names, for pages read in English (the codes and
#: the Chinese names above are what the services check and say).
DISTRICTS_EN: dict[str, str] = {
    "120101": "Heping District",
    "120102": "Hedong District",
    "120103": "Hexi District",
    "120104": "Nankai District",
    "120105": "Hebei District",
    "120106": "Hongqiao District",
    "120110": "Dongli District",
    "120111": "Xiqing District",
    "120112": "Jinnan District",
    "120113": "Beichen District",
    "120114": "Wuqing District",
    "120115": "Baodi District",
    "120116": "Binhai New Area",
    "120117": "Ninghe District",
    "120118": "Jinghai District",
    "120119": "Jizhou District",
}


def district_name(code: str) -> str:
    """A district's name in the caller's language (English or Chinese); a
    code that is not one of the city's, as it is."""
    return msg(DISTRICTS_EN.get(code, code), DISTRICTS.get(code, code))


def district_named(code: str) -> tuple[str, str]:
    """A district as people call it, its code beside (in English and in
    Chinese: "宝坻区 (120115)", "宝坻区（120115）"); a code that is not one
    of the city's, alone."""
    name = DISTRICTS.get(code)
    return (f"{name} ({code})", f"{name}（{code}）") if name else (code, code)


def other_district_problem(
    what: tuple[str, str], ref: str, ref_district: str, district: str, *, name_theirs: bool = True
) -> str | None:
    """Why a record of `district` may not name record `ref` (`what` it is, in
    English and in Chinese) of `ref_district`, or None when both are of one
    district. A record names only records of its own district, whoever
    writes it: a caller seeing several districts (an administrator, an
    officer of two) would otherwise tie one district's work to another's.
    `name_theirs` False: the other district is not named (a caller who may
    not act there learns only that the record is not of this district)."""
    if ref_district == district:
        return None
    ours = district_named(district)
    if not name_theirs:
        return msg(
            f"{what[0]} {ref} is not of {ours[0]}, this record's district: a record"
            " names only records of its own district",
            f"{what[1]} {ref} 不属于本记录所在的{ours[1]}：只能引用本区的记录",
        )
    theirs = district_named(ref_district)
    return msg(
        f"{what[0]} {ref} is in district {theirs[0]}, not in {ours[0]}, this record's"
        " district: a record names only records of its own district",
        f"{what[1]} {ref} 所在区为{theirs[1]}，而非本记录所在的{ours[1]}：只能引用本区的记录",
    )


def district_problem(code: str) -> str | None:
    """Why `code` is not one of the city's districts, or None when it is one."""
    if code in DISTRICTS:
        return None
    # Imported here: the CLI reads district codes without the server side
    # (starlette) the guard brings.
    from svc_common.guard import typed_code

    if isinstance(code, str) and (meant := typed_code(code)) in DISTRICTS:
        # "１２０１１６" (a Chinese IME's full-width digits) or " 120116 ":
        # the code is refused, as a unified social credit code is, but the
        # refusal says what to write, not that the digits name no district.
        return msg(
            f"{code!r} is written with full-width digits or spaces: write {meant}",
            f"{code!r} 含全角数字或空格：请写作半角的 {meant}",
        )
    return msg(
        f"{code!r} is not one of Tianjin's 16 district codes (GB/T 2260, e.g. 120119 蓟州区)",
        f"{code!r} 不是天津市 16 个区的区划代码（GB/T 2260，如 120119 蓟州区）",
    )


def check_district(code: str) -> str:
    """`code` if it is a district of the city, else ValueError saying why
    (usable as a pydantic field validator)."""
    if problem := district_problem(code):
        raise ValueError(problem)
    return code


#: How a district code is documented: one of the city's 16 codes.
DISTRICT_SCHEMA = {
    "type": "string",
    "enum": sorted(DISTRICTS),
    "description": "GB/T 2260 code of one of Tianjin's 16 districts (e.g. 120119 蓟州区)",
    "examples": ["120119"],
}

#: A request field holding a district code of the city.
DistrictCode = Annotated[str, AfterValidator(check_district), WithJsonSchema(DISTRICT_SCHEMA)]


def districts_claim(claims: dict[str, Any]) -> list[str] | None:
    """A token's districts, or None when its claim is not a list of the
    city's district codes (`svc_common.districts.DISTRICTS`). Absent, the
    claim is an empty list (a citywide reader's); given, it must be a list:
    an issuer's blank or null attribute (`""`, `null`, `false`) is not read
    as "every district". Read the same way wherever a token is
    (the services, the console's session, the CLI's messages)."""
    districts = claims.get("districts", [])
    if (
        not isinstance(districts, list)
        or len(districts) > 100
        # A code of no district of the city (110101, 999999, "120119\n") is
        # no scope: refused as the services refuse it in a request.
        or not all(isinstance(d, str) and d in DISTRICTS for d in districts)
    ):
        return None
    return districts
