"""Code sets a claim is checked against: NPI, EIN, taxonomy, procedures, ICD-10-CM leaf
codes and the psychotherapy add-on rules."""

from __future__ import annotations

import pytest

from tpm.domain.billing.check837 import combination_problems
from tpm.domain.billing.codes import (
    ein_problem,
    icd10_problem,
    npi_problem,
    pos_problem,
    procedure_problem,
    taxonomy_problem,
    zip9_problem,
)


@pytest.mark.parametrize("npi", ["1234567893", "1245319599", "1679576722"])
def test_valid_npis(npi: str) -> None:
    assert npi_problem(npi) is None


@pytest.mark.parametrize(
    ("npi", "why"),
    [
        ("1234567890", "check digit"),
        ("3234567893", "starts with 1 or 2"),
        ("12345", "ten digits"),
        ("12345678AB", "ten digits"),
    ],
)
def test_invalid_npis_say_why(npi: str, why: str) -> None:
    problem = npi_problem(npi)
    assert problem is not None
    assert why in problem


def test_ein_shape_and_unissued_prefixes() -> None:
    assert ein_problem("12-3456789") is None
    assert ein_problem("123456789") is None
    assert "nine digits" in (ein_problem("1234") or "")
    assert "never issued" in (ein_problem("001234567") or "")


def test_taxonomy_from_the_shipped_list() -> None:
    for code in (
        "1041C0700X",
        "101YP2500X",
        "101YM0800X",
        "106H00000X",
        "103T00000X",
        "103TC0700X",
        "2084P0800X",
        "363LP0808X",
        "261QM0801X",
    ):
        assert taxonomy_problem(code) is None, code
    assert "ending in X" in (taxonomy_problem("1041C0700Z") or "")
    assert "NUCC" in (taxonomy_problem("999999999X") or "")


def test_icd10_billable_leaf_codes_only() -> None:
    assert icd10_problem("F43.10") is None
    assert icd10_problem("F4310") is None
    assert icd10_problem("F33.1") is None
    assert "header" in (icd10_problem("F43.1") or "")
    assert "not an ICD-10-CM code" in (icd10_problem("ZZZZZ9") or "")


def test_procedures_and_places() -> None:
    assert procedure_problem("90837") is None
    assert "allow-list" in (procedure_problem("ABCDE") or "")
    assert pos_problem("02") is None
    assert pos_problem("10") is None
    assert pos_problem("99X") is not None
    assert zip9_problem("62701-1234") is None
    assert zip9_problem("62701") is not None


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (["90837", "90785"], []),
        (["90839", "90840", "90840"], []),
        (["99213", "90833"], []),
        (["90785"], ["add-on 90785 needs"]),
        (["90840"], ["add-on 90840 needs"]),
        (["90834", "90837"], ["one psychotherapy code"]),
        (["99213", "90834", "90836"], ["never go with"]),
        (["90846", "90785"], ["add-on 90785 needs"]),
    ],
)
def test_add_on_and_one_per_day_rules(codes: list[str], expected: list[str]) -> None:
    found = combination_problems(codes)
    assert len(found) == len(expected), found
    for message, fragment in zip(found, expected, strict=True):
        assert fragment in message
