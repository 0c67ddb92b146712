"""The pure rules of clinical notes: content hashes, the version chain, field-level diffs,
late entries and the CPT lines a signed note supports."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tpm.clock import to_rfc3339
from tpm.domain.notes import (
    GENESIS,
    Change,
    ChargeLine,
    NoteVersion,
    VersionEvent,
    billing_lines,
    check_versions,
    content_hash,
    diff,
    is_late_entry,
    make_version,
    place_of_service,
    service_date_of,
)
from tpm.domain.templates import builtin_library

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "template_examples"
CHICAGO = ZoneInfo("America/Chicago")
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def example(template_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{template_id}.json").read_text("utf-8"))
    return data


def chain(contents: list[dict[str, Any]]) -> list[NoteVersion]:
    versions: list[NoteVersion] = []
    prev = GENESIS
    for n, content in enumerate(contents, start=1):
        v = make_version(
            "note_x", n, VersionEvent.SAVED, T0, to_rfc3339(T0), "usr_a", "t", 1, content, prev
        )
        versions.append(v)
        prev = v.chain_hash
    return versions


def test_content_hash_ignores_key_order_but_not_values_or_template_version() -> None:
    a = content_hash("soap", 1, {"a": 1, "b": {"c": "x", "d": [1, 2]}})
    assert a == content_hash("soap", 1, {"b": {"d": [1, 2], "c": "x"}, "a": 1})
    assert a != content_hash("soap", 1, {"a": 1, "b": {"c": "y", "d": [1, 2]}})
    assert a != content_hash("soap", 2, {"a": 1, "b": {"c": "x", "d": [1, 2]}})
    assert a != content_hash("soap", 1, {"a": 1, "b": {"c": "x", "d": [2, 1]}})


def test_an_untouched_chain_verifies() -> None:
    versions = chain([{"a": 1}, {"a": 2}, {"a": 2, "b": 3}])
    checks = check_versions(versions, {v.n: to_rfc3339(T0) for v in versions})
    assert all(c.content_ok and c.chain_ok for c in checks)


def test_altered_content_removed_or_retimed_versions_are_caught() -> None:
    versions = chain([{"a": 1}, {"a": 2}, {"a": 3}])
    times = {v.n: to_rfc3339(T0) for v in versions}
    # content edited in place
    edited = [versions[0], versions[1].model_copy(update={"content": {"a": 99}}), versions[2]]
    assert [c.content_ok for c in check_versions(edited, times)] == [True, False, True]
    # a version removed: the next one no longer links
    gap = check_versions([versions[0], versions[2]], times)
    assert [c.chain_ok for c in gap] == [True, False]
    # the time of a version rewritten
    later = dict(times) | {2: "2026-03-03T00:00:00.000Z"}
    assert [c.chain_ok for c in check_versions(versions, later)] == [True, False, True]


def test_diff_reports_leaf_paths_with_values() -> None:
    before = {"plan": {"plan": "A"}, "tags": ["x", "y"], "gone": 1, "same": True}
    after = {"plan": {"plan": "B", "homework": "H"}, "tags": ["x"], "same": True, "a/b": 2}
    assert diff(before, after) == [
        Change("/a~1b", "added", after=2),
        Change("/gone", "removed", before=1),
        Change("/plan/homework", "added", after="H"),
        Change("/plan/plan", "changed", before="A", after="B"),
        Change("/tags/1", "removed", before="y"),
    ]
    assert diff(after, after) == []
    # a value that changes type is a change even when Python thinks 1 == True
    assert diff({"x": 1}, {"x": True}) == [Change("/x", "changed", before=1, after=True)]


@pytest.mark.parametrize(
    ("minutes", "code"),
    [(16, "90832"), (37, "90832"), (38, "90834"), (52, "90834"), (53, "90837"), (90, "90837")],
)
def test_psychotherapy_codes_follow_the_documented_minutes(minutes: int, code: str) -> None:
    template = builtin_library().latest("progress_note_soap")
    content = example("progress_note_soap")
    content["session"]["duration_minutes"] = minutes
    assert billing_lines(template, content) == (ChargeLine(cpt_code=code),)


def test_too_short_or_untimed_sessions_and_unbilled_templates_yield_no_charge() -> None:
    library = builtin_library()
    content = example("progress_note_soap")
    content["session"]["duration_minutes"] = 15
    assert billing_lines(library.latest("progress_note_soap"), content) == ()
    del content["session"]["duration_minutes"]
    assert billing_lines(library.latest("progress_note_soap"), content) == ()
    # a measure has a CPT code but no session block; a safety plan has neither
    assert billing_lines(library.latest("phq9"), example("phq9")) == ()
    assert billing_lines(library.latest("safety_plan"), example("safety_plan")) == ()


@pytest.mark.parametrize(
    ("minutes", "lines"),
    [
        (29, ()),
        (74, (ChargeLine(cpt_code="90839"),)),
        (75, (ChargeLine(cpt_code="90839"), ChargeLine(cpt_code="90840", units=1))),
        (105, (ChargeLine(cpt_code="90839"), ChargeLine(cpt_code="90840", units=2))),
    ],
)
def test_crisis_psychotherapy_adds_90840_per_further_half_hour(
    minutes: int, lines: tuple[ChargeLine, ...]
) -> None:
    content = example("crisis_psychotherapy_note")
    content["session"]["duration_minutes"] = minutes
    assert billing_lines(builtin_library().latest("crisis_psychotherapy_note"), content) == lines


def test_single_code_templates_bill_their_code() -> None:
    content = example("diagnostic_evaluation")
    template = builtin_library().latest("diagnostic_evaluation")
    assert billing_lines(template, content) == (ChargeLine(cpt_code="90791"),)


def test_place_of_service_prefers_the_note_then_the_location() -> None:
    assert place_of_service({"session": {"place_of_service": "10"}}, "office") == "10"
    assert place_of_service({}, "office") == "11"
    assert place_of_service({}, "telehealth") == "02"
    assert place_of_service({}, None) is None


def test_service_date_comes_from_the_note_then_the_appointment() -> None:
    assert service_date_of({"session": {"date": "2026-02-27"}}, T0, CHICAGO, T0) == date(
        2026, 2, 27
    )
    late_evening = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)  # 21:00 on 2 March in Chicago
    assert service_date_of({}, late_evening, CHICAGO, T0) == date(2026, 3, 2)
    assert service_date_of({"session": {"date": "bad"}}, None, CHICAGO, T0) == date(2026, 3, 2)


def test_late_entry_after_the_configured_hours() -> None:
    service = date(2026, 3, 2)
    # end of 2 March in Chicago is 06:00 UTC on 3 March; + 72 h = 06:00 UTC on 6 March
    on_time = datetime(2026, 3, 6, 5, 59, tzinfo=UTC)
    late = datetime(2026, 3, 6, 6, 1, tzinfo=UTC)
    assert is_late_entry(service, None, on_time, CHICAGO, 72) is False
    assert is_late_entry(service, None, late, CHICAGO, 72) is True
    # for an appointment, the clock starts at its end
    end = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    assert is_late_entry(service, end, datetime(2026, 3, 3, 17, 0, tzinfo=UTC), CHICAGO, 24)
    assert not is_late_entry(service, end, datetime(2026, 3, 3, 15, 0, tzinfo=UTC), CHICAGO, 24)
