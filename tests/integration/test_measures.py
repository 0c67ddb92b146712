"""Measures through the local API gateway: staff send a PHQ-9, the patient answers it, the
clinician reads the score as a series and a chart and sees the risk flag; refusals for
measures that cannot go to the portal, for bad answers and for the wrong people; answers
and scores sealed at rest; every step audited with the patient."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from support.demo_practice import demo_practice
from support.gateway_calls import call_gateway

from tpm.clock import FixedClock
from tpm.ids import new_id
from tpm.local.demo import DEMO_ACCOUNTS
from tpm.local.gateway import HttpResponse, LocalGateway
from tpm.runtime import Runtime
from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import ChainedEvent, Outcome
from tpm.security.principal import Role

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"
# Moderate depression (total 12) with a positive item 9.
RISKY = {f"item_{i}": v for i, v in enumerate([2, 2, 1, 1, 1, 2, 1, 1, 1], start=1)}


@dataclass
class Local:
    runtime: Runtime
    gateway: LocalGateway
    practice_id: str
    clock: FixedClock
    tokens: dict[Role, str]

    def call(self, method: str, path: str, role: Role, body: Any = None) -> HttpResponse:
        return call_gateway(self.gateway, method, path, token=self.tokens[role], body=body)

    def patient_id(self) -> str:
        return str(body_of(self.call("GET", "/v1/me", Role.PATIENT))["patient_id"])

    def send(self, role: Role = Role.CLINICIAN, **body: Any) -> HttpResponse:
        path = f"/v1/patients/{self.patient_id()}/measure-requests"
        return self.call("POST", path, role, {"template_id": "phq9", **body})

    def submit(self, request_id: str, answers: Any, role: Role = Role.PATIENT) -> HttpResponse:
        path = f"/v1/me/measure-requests/{request_id}/responses"
        return self.call("POST", path, role, {"answers": answers})

    def head(self) -> int:
        head = read_head(self.runtime.store.practice(self.practice_id))
        return head.seq if head else 0

    def events_after(self, seq: int) -> list[ChainedEvent]:
        store = self.runtime.store.practice(self.practice_id)
        head = read_head(store)
        assert head is not None
        return list(read_events(store, seq + 1, head.seq)) if head.seq > seq else []


def parse_svg(text: str) -> ET.Element:
    """The chart as XML. It is our own server's output; refusing any DTD rules out the
    entity tricks S314 warns about (expansion bombs, external entities)."""
    assert "<!DOCTYPE" not in text
    assert "<!ENTITY" not in text
    return ET.fromstring(text)  # noqa: S314


def body_of(response: HttpResponse) -> Any:
    return json.loads(response.body)


def fields_of(response: HttpResponse) -> list[tuple[str, str]]:
    assert response.status == 422, response.body
    return [(f["path"], f["type"]) for f in body_of(response)["error"]["details"]["fields"]]


@pytest.fixture
def local(tmp_path: Path, project_root: Path) -> Iterator[Local]:
    with demo_practice(tmp_path, project_root, NOW, "Measures Practice") as demo:
        yield Local(demo.runtime, demo.gateway, demo.practice_id, demo.clock, demo.tokens)


def test_patient_answers_a_phq9_and_the_clinician_sees_score_trend_and_flag(local: Local) -> None:
    pid = local.patient_id()
    # GIVEN the clinician sends a PHQ-9 due before the next visit
    sent = local.send(due_at=(NOW + timedelta(days=2)).isoformat())
    assert sent.status == 201, sent.body
    request = body_of(sent)
    assert (request["template_id"], request["status"]) == ("phq9", "open")
    assert request["title"].startswith("PHQ-9")

    # WHEN the patient opens it in the portal
    mine = body_of(local.call("GET", "/v1/me/measure-requests", Role.PATIENT))["items"]
    assert [r["id"] for r in mine] == [request["id"]]
    form = body_of(local.call("GET", f"/v1/me/measure-requests/{request['id']}", Role.PATIENT))
    # THEN they get every item's wording and its options
    assert [i["id"] for i in form["items"]] == [f"item_{n}" for n in range(1, 10)]
    assert form["items"][8]["text"].startswith("Thoughts that you would be better off dead")
    assert form["items"][0]["options"][0]["label"] == "Not at all"
    assert form["instructions"].startswith("Over the last 2 weeks")

    # WHEN they answer (item 9 above 0) THEN they get a receipt, not the score
    before = local.head()
    done = local.submit(request["id"], RISKY)
    assert done.status == 201, done.body
    receipt = body_of(done)
    assert set(receipt) == {"id", "request_id", "completed_at"}
    # AND the request leaves their list but stays on the record as completed
    assert body_of(local.call("GET", "/v1/me/measure-requests", Role.PATIENT))["items"] == []
    listed = local.call("GET", f"/v1/patients/{pid}/measure-requests", Role.FRONT_DESK)
    assert [r["status"] for r in body_of(listed)["items"]] == ["completed"]

    # AND the submission is audited with the patient and the flag, nothing more
    events = local.events_after(before)
    submits = [e for e in events if e.action == "measure.response.submit"]
    assert [(e.patient_id, e.reason_code, e.resource_id) for e in submits] == [
        (pid, "risk_flag_raised", receipt["id"])
    ]

    # THEN the clinician sees the score, band and flag in the series
    series = local.call("GET", f"/v1/patients/{pid}/measures/phq9/series", Role.CLINICIAN)
    assert series.status == 200, series.body
    points = body_of(series)["items"]
    assert [(p["total"], p["band"], p["flags"]) for p in points] == [
        (12, "moderate", ["suicide_risk"])
    ]
    # AND the flag is in their list, with ids only
    flags = body_of(local.call("GET", "/v1/measure-flags", Role.CLINICIAN))["items"]
    assert [(f["patient_id"], f["response_id"], f["flags"]) for f in flags] == [
        (pid, receipt["id"], ["suicide_risk"])
    ]
    # AND the chart shows one point, flagged
    chart = body_of(local.call("GET", f"/v1/patients/{pid}/measures/phq9/chart", Role.CLINICIAN))
    root = parse_svg(chart["svg"])
    circles = root.findall(f".//{SVG}circle")
    assert [c.get("class") for c in circles] == ["point flagged"]
    assert chart["points"] == 1
    assert re.search(r"\bPat\b|Example", chart["svg"]) is None  # no name of the patient


def test_a_second_response_extends_the_series_in_time_order(local: Local) -> None:
    pid = local.patient_id()
    for answers in (RISKY, dict.fromkeys(RISKY, 0)):
        request = body_of(local.send())
        assert local.submit(request["id"], answers).status == 201
        local.clock.advance(minutes=5)  # within the sessions' idle limit
    points = body_of(local.call("GET", f"/v1/patients/{pid}/measures/phq9/series", Role.CLINICIAN))[
        "items"
    ]
    assert [(p["total"], p["band"], p["flags"]) for p in points] == [
        (12, "moderate", ["suicide_risk"]),
        (0, "minimal", []),
    ]
    chart = body_of(local.call("GET", f"/v1/patients/{pid}/measures/phq9/chart", Role.CLINICIAN))
    assert len(parse_svg(chart["svg"]).findall(f".//{SVG}circle")) == 2


def test_answers_and_scores_are_sealed_at_rest(local: Local) -> None:
    request = body_of(local.send())
    receipt = body_of(local.submit(request["id"], RISKY))
    store = local.runtime.store.practice(local.practice_id)
    stored = store.get(f"MEASURE_RESPONSE#{receipt['id']}", "PROFILE")
    assert stored is not None
    text = json.dumps(stored, default=str)
    for plain in ("item_9", "moderate", "suicide"):
        assert plain not in text
    assert {"total", "band", "flags"}.isdisjoint(stored)


def test_measures_that_cannot_go_to_the_portal_are_refused(local: Local) -> None:
    # EPDS: its wording may not be reproduced, so the patient could not take it here
    assert fields_of(local.send(template_id="epds")) == [("body.template_id", "not_self_report")]
    assert fields_of(local.send(template_id="progress_note_soap")) == [
        ("body.template_id", "not_a_measure")
    ]
    assert fields_of(local.send(template_id="no_such_thing")) == [
        ("body.template_id", "unknown_template")
    ]
    past = (NOW - timedelta(hours=1)).isoformat()
    assert fields_of(local.send(due_at=past)) == [("body.due_at", "in_past")]
    assert fields_of(local.send(appointment_id=new_id("apt"))) == [
        ("body.appointment_id", "unknown_appointment")
    ]
    assert local.send(extra="x").status == 422  # mass assignment


def test_a_patient_nobody_treats_cannot_be_sent_a_measure(local: Local) -> None:
    created = local.call(
        "POST",
        "/v1/patients",
        Role.FRONT_DESK,
        {"legal_first_name": "Ana", "legal_last_name": "Synthetic", "date_of_birth": "1990-02-02"},
    )
    assert created.status == 201, created.body
    path = f"/v1/patients/{body_of(created)['id']}/measure-requests"
    refused = local.call("POST", path, Role.FRONT_DESK, {"template_id": "phq9"})
    assert fields_of(refused) == [("body.patient_id", "no_care_team")]


def test_incomplete_or_malformed_answers_are_refused_without_echoing_them(local: Local) -> None:
    request = body_of(local.send(role=Role.FRONT_DESK))
    missing = {k: v for k, v in RISKY.items() if k != "item_9"}
    assert fields_of(local.submit(request["id"], missing)) == [("body.answers.item_9", "required")]
    too_high = local.submit(request["id"], {**RISKY, "item_1": 7})
    assert fields_of(too_high) == [("body.answers.item_1", "maximum")]
    assert "7" not in json.dumps(body_of(too_high)["error"]["details"]).replace("item_", "")
    unknown = local.submit(request["id"], {**RISKY, "item_99": 1})
    assert fields_of(unknown) == [("body.answers.item_99", "unknown_field")]
    assert local.submit(request["id"], {**RISKY, "item_2": True}).status == 422
    assert local.submit(request["id"], {**RISKY, "item_2": "2"}).status == 422
    # None of that completed the request
    assert local.submit(request["id"], RISKY).status == 201
    # AND answering twice is a conflict
    again = local.submit(request["id"], RISKY)
    assert (again.status, body_of(again)["error"]["code"]) == (409, "conflict")


def test_only_the_patient_answers_and_only_clinicians_read_scores(local: Local) -> None:
    pid = local.patient_id()
    request = body_of(local.send())
    # Staff cannot answer on the patient's behalf through the portal route
    assert local.submit(request["id"], RISKY, role=Role.CLINICIAN).status == 403
    assert local.submit(new_id("mrq"), RISKY).status == 404
    # Front desk sends and sees status, never scores or flags
    path = f"/v1/patients/{pid}/measures/phq9/series"
    assert local.call("GET", path, Role.FRONT_DESK).status == 403
    assert local.call("GET", "/v1/measure-flags", Role.FRONT_DESK).status == 403
    assert local.call("GET", path, Role.PATIENT).status == 403
    unknown = local.call("GET", f"/v1/patients/{pid}/measures/nope/series", Role.CLINICIAN)
    assert unknown.status == 404
    # The denial is audited
    before = local.head()
    local.call("GET", path, Role.FRONT_DESK)
    denied = [e for e in local.events_after(before) if e.outcome is Outcome.DENIED]
    assert [(e.action, e.reason_code) for e in denied] == [("measure.series.read", "forbidden")]


def test_a_clinician_taken_off_the_care_team_stops_seeing_the_flag(local: Local) -> None:
    pid = local.patient_id()
    request = body_of(local.send())
    assert local.submit(request["id"], RISKY).status == 201
    assert len(body_of(local.call("GET", "/v1/measure-flags", Role.CLINICIAN))["items"]) == 1
    clinician = body_of(local.call("GET", "/v1/me", Role.CLINICIAN))["id"]
    path = f"/v1/patients/{pid}/care-team/{clinician}/remove"
    assert local.call("POST", path, Role.FRONT_DESK).status == 204
    assert body_of(local.call("GET", "/v1/measure-flags", Role.CLINICIAN))["items"] == []


def test_a_practice_clone_of_a_measure_can_be_sent_and_keeps_its_scoring(local: Local) -> None:
    # GIVEN the practice adapts PHQ-9's title (items and scoring stay, as the licence asks)
    clone = local.call(
        "POST",
        "/v1/templates/phq9/clone",
        Role.CLINICIAN,
        {"new_id": "prx_phq9_intake", "changes": {"title": "PHQ-9 (intake)"}},
    )
    assert clone.status == 201, clone.body
    # WHEN it is sent and answered
    sent = local.send(template_id="prx_phq9_intake")
    assert sent.status == 201, sent.body
    request = body_of(sent)
    assert request["title"] == "PHQ-9 (intake)"
    answers = {f"item_{n}": 1 for n in range(1, 10)}
    assert local.submit(request["id"], answers).status == 201
    # THEN the clinician's series for the clone is scored like PHQ-9
    path = f"/v1/patients/{local.patient_id()}/measures/prx_phq9_intake/series"
    series = body_of(local.call("GET", path, Role.CLINICIAN))["items"]
    assert [(p["total"], p["band"]) for p in series] == [(9, "mild")]


def supervisor_token(local: Local) -> str:
    """The demo supervisor signed in with an authenticator enrolled (the role needs MFA)."""
    demo = next(a for a in DEMO_ACCOUNTS if a.role is Role.SUPERVISOR)
    login = {"practice": "local", "email": demo.email, "password": demo.password}
    token = str(
        body_of(call_gateway(local.gateway, "POST", "/v1/auth/login", body=login))["access_token"]
    )
    started = body_of(call_gateway(local.gateway, "POST", "/v1/me/mfa/totp", token=token))
    code = pyotp.TOTP(started["secret"]).at(NOW)
    confirmed = call_gateway(
        local.gateway, "POST", "/v1/me/mfa/totp/confirm", token=token, body={"code": code}
    )
    assert confirmed.status == 200, confirmed.body
    return token


def test_a_risk_flag_reaches_the_supervisor_and_is_acknowledged_once(local: Local) -> None:
    # GIVEN a PHQ-9 with a positive item 9 (the demo clinician is supervised)
    request = body_of(local.send())
    assert local.submit(request["id"], RISKY).status == 201
    pid = local.patient_id()
    # THEN the clinician's supervisor has the flag in their inbox too
    supervisor = supervisor_token(local)
    inbox = call_gateway(local.gateway, "GET", "/v1/measure-flags", token=supervisor)
    assert inbox.status == 200, inbox.body
    (flag,) = body_of(inbox)["items"]
    assert (flag["patient_id"], flag["acknowledged_at"]) == (pid, None)

    # WHEN the clinician acknowledges it with a note
    before = local.head()
    path = f"/v1/measure-flags/{flag['id']}/acknowledge"
    done = local.call("POST", path, Role.CLINICIAN, {"note": "Called; safety plan reviewed."})
    assert done.status == 200, done.body
    acknowledged = body_of(done)
    me = body_of(local.call("GET", "/v1/me", Role.CLINICIAN))
    assert acknowledged["acknowledged_by"] == me["id"]
    assert acknowledged["acknowledged_at"] is not None
    # THEN it is audited with the patient, and everyone's inbox shows who and when
    (event,) = [e for e in local.events_after(before) if e.action == "measure.flag.acknowledge"]
    assert (event.patient_id, event.resource_id) == (pid, flag["id"])
    seen = body_of(call_gateway(local.gateway, "GET", "/v1/measure-flags", token=supervisor))
    assert seen["items"][0]["acknowledgement_note"] == "Called; safety plan reviewed."
    # AND the note is sealed at rest
    raw = json.dumps(
        local.runtime.store.practice(local.practice_id).get(f"MEASURE_FLAG#{flag['id']}", "PROFILE")
    )
    assert "safety plan" not in raw
    # AND a second acknowledgement is refused and changes nothing; front desk may not
    again = call_gateway(local.gateway, "POST", path, token=supervisor, body={"note": "me too"})
    assert again.status == 409
    assert body_of(local.call("POST", path, Role.FRONT_DESK, {}))["error"]["code"] == "forbidden"
    after = body_of(local.call("GET", "/v1/measure-flags", Role.CLINICIAN))["items"][0]
    assert after["acknowledgement_note"] == "Called; safety plan reviewed."
