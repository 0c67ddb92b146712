"""Measures sent to patients (pure rules) and the SVG chart of their scores."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from tpm.domain.measure_chart import ChartPoint, render_chart
from tpm.domain.measures import (
    MeasureRequest,
    MeasureRuleError,
    check_due,
    check_sendable,
    complete,
    content_of,
    portal_form,
)
from tpm.domain.templates import Band, builtin_library, validate_content

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def parse_svg(text: str) -> ET.Element:
    """The chart as XML. It is our own server's output; refusing any DTD rules out the
    entity tricks S314 warns about (expansion bombs, external entities)."""
    assert "<!DOCTYPE" not in text
    assert "<!ENTITY" not in text
    return ET.fromstring(text)  # noqa: S314


def rule_of(exc: pytest.ExceptionInfo[MeasureRuleError]) -> list[tuple[str, str]]:
    return exc.value.fields


# ---- sending -------------------------------------------------------------------------------


def test_a_licensed_self_report_measure_goes_to_a_treated_patient() -> None:
    check_sendable(builtin_library().latest("phq9"), ["usr_1"])
    check_sendable(builtin_library().latest("gad7"), ["usr_1"])


@pytest.mark.parametrize(
    ("template_id", "care_team", "expected"),
    [
        ("epds", ["usr_1"], [("template_id", "not_self_report")]),
        ("progress_note_soap", ["usr_1"], [("template_id", "not_a_measure")]),
        ("phq9", [], [("patient_id", "no_care_team")]),
    ],
)
def test_what_cannot_be_sent_to_the_portal(
    template_id: str, care_team: list[str], expected: list[tuple[str, str]]
) -> None:
    with pytest.raises(MeasureRuleError) as exc:
        check_sendable(builtin_library().latest(template_id), care_team)
    assert rule_of(exc) == expected


def test_every_portal_measure_has_wording_for_every_item() -> None:
    for template in builtin_library().measures():
        if template.item_text_included is not True:
            continue
        form = portal_form(template)
        assert all(i.text for i in form.items), template.id
        assert len(form.items) == len(template.scoring.items)  # type: ignore[union-attr]


def test_a_due_date_must_be_ahead() -> None:
    check_due(None, NOW)
    check_due(NOW + timedelta(minutes=1), NOW)
    with pytest.raises(MeasureRuleError) as exc:
        check_due(NOW, NOW)
    assert rule_of(exc) == [("due_at", "in_past")]


def request() -> MeasureRequest:
    return MeasureRequest(
        id="mrq_" + "0" * 26,
        patient_id="pat_x",
        template_id="phq9",
        template_version=1,
        requested_by="usr_x",
        created_at=NOW,
    )


def test_completing_a_request_records_the_response_and_bumps_the_version() -> None:
    done = complete(request(), "mrs_y", NOW)
    assert (done.status, done.response_id, done.completed_at, done.version) == (
        "completed",
        "mrs_y",
        NOW,
        2,
    )
    with pytest.raises(ValueError, match="only an open request"):
        complete(done, "mrs_z", NOW)


# ---- the portal form -----------------------------------------------------------------------


def test_the_phq9_form_has_its_wording_options_and_instructions() -> None:
    form = portal_form(builtin_library().latest("phq9"))
    assert [i.number for i in form.items] == list(range(1, 10))
    assert form.items[8].text is not None
    assert form.items[8].text.startswith("Thoughts that")
    assert [o.label for o in form.items[0].options] == [
        "Not at all",
        "Several days",
        "More than half the days",
        "Nearly every day",
    ]
    assert form.instructions is not None


def test_items_with_their_own_options_use_them() -> None:
    form = portal_form(builtin_library().latest("audit_c"))
    assert form.items[1].options[0].label == "1 or 2"
    assert form.items[0].options[0].label == "Never"


def test_an_instrument_without_licensed_wording_shows_none() -> None:
    form = portal_form(builtin_library().latest("epds"))
    assert {i.text for i in form.items} == {None}
    assert form.instructions is None


def test_a_portal_submission_is_valid_content_for_its_template() -> None:
    phq9 = builtin_library().latest("phq9")
    answers = {f"item_{n}": 0 for n in range(1, 10)}
    assert validate_content(phq9, content_of(answers, NOW.date())) == []


# ---- the chart -----------------------------------------------------------------------------

BANDS = (Band(min=0, max=4, label="minimal"), Band(min=5, max=27, label="more <than> & so on"))


def points(*totals: int) -> list[ChartPoint]:
    return [
        ChartPoint(NOW + timedelta(days=14 * i), t, "minimal" if t < 5 else "more", t > 20)
        for i, t in enumerate(totals)
    ]


def circles(svg: str) -> list[ET.Element]:
    return parse_svg(svg).findall(f".//{SVG}circle")


def test_the_chart_is_well_formed_with_one_point_per_response() -> None:
    svg = render_chart("PHQ-9 <demo> & co", 0, 27, BANDS, points(3, 12, 22))
    root = parse_svg(svg)  # well-formed despite <, > and & in the text
    assert root.tag == f"{SVG}svg"
    assert [c.get("class") for c in circles(svg)] == ["point", "point", "point flagged"]
    assert len(root.findall(f".//{SVG}rect")) == len(BANDS)
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == "PHQ-9 <demo> & co"


def test_higher_scores_sit_higher_and_later_ones_further_right() -> None:
    # Given out of order, drawn in time order.
    shuffled = list(reversed(points(3, 12, 22)))
    found = circles(render_chart("PHQ-9", 0, 27, BANDS, shuffled))
    xs = [float(c.get("cx", "0")) for c in found]
    ys = [float(c.get("cy", "0")) for c in found]
    assert xs == sorted(xs)
    assert len(set(xs)) == 3
    assert ys == sorted(ys, reverse=True)  # 3, 12, 22: each one higher up (smaller y)


def test_an_empty_series_says_so() -> None:
    svg = render_chart("PHQ-9", 0, 27, BANDS, [])
    assert circles(svg) == []
    assert "No responses yet" in svg


def test_responses_at_one_instant_are_spread_out() -> None:
    same = [ChartPoint(NOW, t, "minimal") for t in (1, 2)]
    xs = [float(c.get("cx", "0")) for c in circles(render_chart("X", 0, 27, BANDS, same))]
    assert xs[0] != xs[1]


def test_an_empty_score_range_is_refused() -> None:
    with pytest.raises(ValueError, match="range is empty"):
        render_chart("X", 5, 5, BANDS, [])
