"""837P: the generated fixture passes pyx12 and our rules; each of the eight
single-change negatives from the billing brief is rejected with a clear message; files
are read as they come (byte-order mark, line breaks, indentation, other separators)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpm.adapters.x12_validator import validate_837p
from tpm.domain.billing.check837 import check_837p
from tpm.domain.billing.x12 import X12SyntaxError, canonical, parse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "x12"
CLEAN = (FIXTURES / "837p_two_claims.x12").read_text()


def changed(*subs: tuple[str, str]) -> str:
    text = CLEAN
    for old, new in subs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def test_the_fixture_is_clean_in_pyx12_and_our_rules() -> None:
    assert validate_837p(CLEAN) == []


def test_the_fixture_carries_our_control_numbers() -> None:
    segments = parse(CLEAN)
    ids = [s.id for s in segments]
    assert ids.count("CLM") == 2
    assert [s.get(2) for s in segments if s.id == "REF" and s.get(1) == "6R"] == [
        "PCN0001-1",
        "PCN0001-2",
        "PCN0002-1",
    ]
    st = next(s for s in segments if s.id == "ST")
    assert st.get(3) == "005010X222A1"


NEGATIVES = [
    ("se_count", [("SE*47*", "SE*48*")], "SE01", "segment count"),
    ("pos", [("02:B:1", "99X:B:1")], "CLM05-1", "place of service"),
    ("npi", [("XX*1679576722", "XX*1679576720")], "NM109", "check digit"),
    ("cpt", [("HC:90785", "HC:ABCDE")], "SV101-2", "allow-list"),
    ("icd10", [("ABF:F411", "ABF:ZZZZZ9")], "HI02-2", "not an ICD-10-CM code"),
    ("frequency_9", [("02:B:1", "02:B:9")], "CLM05-3", "not 1 (original), 7"),
    (
        "frequency_7_without_f8",
        [("REF*F8*PAYERICN0001~\n", ""), ("SE*47*", "SE*46*")],
        "REF02",
        "payer's claim number",
    ),
    (
        "taxonomy",
        [
            (
                "PRV*PE*PXC*1041C0700X~\nLX*1~\nSV1*HC:90837:93",
                "PRV*PE*PXC*1041C0700Z~\nLX*1~\nSV1*HC:90837:93",
            )
        ],
        "PRV03",
        "taxonomy",
    ),
]


@pytest.mark.parametrize(
    ("name", "subs", "element", "fragment"), NEGATIVES, ids=[n[0] for n in NEGATIVES]
)
def test_each_single_change_negative_is_rejected(
    name: str, subs: list[tuple[str, str]], element: str, fragment: str
) -> None:
    problems = validate_837p(changed(*subs))
    assert problems, name
    ours = [p for p in problems if p.element == element]
    assert ours, [p.line() for p in problems]
    assert any(fragment in p.message for p in ours), [p.line() for p in problems]
    assert all(p.loop and p.segment for p in problems)


def test_our_rules_alone_catch_what_pyx12_misses() -> None:
    for subs in (
        [("XX*1679576722", "XX*1679576720")],
        [("02:B:1", "02:B:9")],
        [("ABF:F411", "ABF:F431")],
    ):
        assert check_837p(parse(changed(*subs))), subs


def test_header_icd10_code_is_refused() -> None:
    problems = check_837p(parse(changed(("ABF:F411", "ABF:F431"))))
    assert [p.element for p in problems] == ["HI02-2"]
    assert "more specific" in problems[0].message


def test_pointer_past_the_diagnoses_and_missing_line_control() -> None:
    text = changed(
        ("*UN*1***1:2~", "*UN*1***1:3~"), ("REF*6R*PCN0001-2~\n", ""), ("SE*47*", "SE*46*")
    )
    elements = {p.element for p in check_837p(parse(text))}
    assert {"SV107-2", "REF*6R"} <= elements


def test_claim_total_must_equal_its_lines() -> None:
    problems = check_837p(parse(changed(("CLM*PCN0001*245*", "CLM*PCN0001*250*"))))
    assert [p.element for p in problems] == ["CLM02"]


def as_practice_sends_it(text: str) -> str:
    """A byte-order mark, CRLF, indentation, and other separators (| element, > component)."""
    segments = [line.rstrip("~") for line in text.splitlines()]
    isa = segments[0]
    out = ["\ufeff" + isa.replace("*", "|")[:-1] + ">"]
    out += ["   " + s.replace("*", "|").replace(":", ">") for s in segments[1:]]
    return "~\r\n".join(out) + "~\r\n"


def test_files_as_they_come_in_practice() -> None:
    odd = as_practice_sends_it(CLEAN)
    assert odd.startswith("\ufeffISA|")
    assert canonical(odd) == CLEAN
    assert validate_837p(odd) == []


def test_not_x12_at_all() -> None:
    with pytest.raises(X12SyntaxError):
        parse("hello")
    problems = validate_837p("hello")
    assert problems
    assert "ISA" in problems[0].message
