"""Measures in the portal: the clinician sends the demo patient a PHQ-9; the patient fills it
in, in a real browser, with a positive answer to item 9; the clinician then sees the score,
its band and the suicide-risk flag in the series, the flag in their list, and one point on
the chart. The patient is thanked, never shown the score."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from playwright.sync_api import Page, expect
from portal_api import (
    account,
    demo_patient_id,
    ok,
    screenshot,
    serious_violations,
    sign_in_portal,
    staff,
)

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e

# The option chosen for each PHQ-9 item: total 2+1+1+2+1+0+1+0+2 = 10 ("moderate").
CHOICES = {
    1: "More than half the days",
    2: "Several days",
    3: "Several days",
    4: "More than half the days",
    5: "Several days",
    6: "Not at all",
    7: "Several days",
    8: "Not at all",
    9: "More than half the days",
}


def parse_svg(text: str) -> ET.Element:
    """The chart as XML. It is our own server's output; refusing any DTD rules out the
    entity tricks S314 warns about (expansion bombs, external entities)."""
    assert "<!DOCTYPE" not in text
    assert "<!ENTITY" not in text
    return ET.fromstring(text)  # noqa: S314


def test_patient_completes_a_phq9_and_the_clinician_sees_it_in_the_trend(
    page: Page, portal_url: str
) -> None:
    # GIVEN the demo clinician sends the demo patient (on their care team) a PHQ-9
    clinician = staff(portal_url, Role.CLINICIAN)
    desk = staff(portal_url, Role.FRONT_DESK)
    patient_id = demo_patient_id(desk)
    path = f"/v1/patients/{patient_id}/measure-requests"
    sent = ok(clinician.post(path, json={"template_id": "phq9"}))
    series_path = f"/v1/patients/{patient_id}/measures/phq9/series"
    before = len(ok(clinician.get(series_path))["items"])

    # WHEN the patient signs in, opens it and answers every question
    patient = account(Role.PATIENT)
    sign_in_portal(page, patient.email, patient.password)
    section = page.get_by_role("region", name="Questionnaires")
    request = section.get_by_role("listitem").filter(has_text=sent["title"])
    request.get_by_role("button", name=f"Start {sent['title']}").click()
    form = section.get_by_role("form", name=sent["title"])
    expect(form.get_by_role("group")).to_have_count(9)
    item9 = form.get_by_role("group", name="9. Thoughts that you would be better off dead")
    expect(item9).to_be_visible()
    assert serious_violations(page) == []

    # (submitting early names what is missing and sends nothing)
    form.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("alert")).to_contain_text("Please answer every question")
    for number, label in CHOICES.items():
        form.get_by_role("group", name=f"{number}. ").get_by_label(label, exact=True).check()
    screenshot(page, "measures-filled")
    form.get_by_role("button", name="Send my answers").click()

    # THEN they are thanked, shown where to get help now, and not shown a score
    expect(section.get_by_role("heading", name="Thank you")).to_be_focused()
    expect(section).to_contain_text("988")
    expect(section).not_to_contain_text("moderate")
    expect(section.get_by_role("listitem").filter(has_text=sent["title"])).to_have_count(0)
    screenshot(page, "measures-thank-you")
    assert serious_violations(page) == []

    # AND the clinician sees the new score, band and flag at the end of the series
    points = ok(clinician.get(series_path))["items"]
    assert len(points) == before + 1
    assert (points[-1]["total"], points[-1]["band"], points[-1]["flags"]) == (
        10,
        "moderate",
        ["suicide_risk"],
    )
    flags = ok(clinician.get("/v1/measure-flags"))["items"]
    assert flags[0]["response_id"] == points[-1]["response_id"]
    assert flags[0]["patient_id"] == patient_id
    # AND the chart has one point per response, the newest flagged
    chart = ok(clinician.get(f"/v1/patients/{patient_id}/measures/phq9/chart"))
    circles = parse_svg(chart["svg"]).findall(".//{http://www.w3.org/2000/svg}circle")
    assert len(circles) == before + 1
    assert circles[-1].get("class") == "point flagged"
    # (rendered in a browser tab of its own, to look at)
    viewer = page.context.new_page()
    viewer.set_content(chart["svg"])
    screenshot(viewer, "measures-clinician-chart")
    viewer.close()
