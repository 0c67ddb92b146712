"""Reminder routes through the local gateway: content control on save (422 with field
reasons), the consented per-patient override, opt-out by link, the SMS webhook, the
delivery log, and calendar feeds (no PHI, revocable)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from icalendar import Calendar
from support.sns_signing import TOPIC, LocalSigner
from world import World

from tpm.adapters.notify.outbox import OutboxNotifier
from tpm.domain.reminders import QuietHours
from tpm.domain.scheduling import Appointment, Location, LocationKind, Service
from tpm.ids import new_id
from tpm.local.gateway import HttpRequest
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.catalogue import CatalogueRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.public_tokens import SmsNumbers
from tpm.repositories.reminders import ReminderSettingsRepository
from tpm.runtime import set_runtime
from tpm.security import sns
from tpm.security.principal import Role
from tpm.services.practices import get_practice
from tpm.services.reminder_hooks import on_booked
from tpm.services.reminder_sweep import ReminderSweep


def admin(world: World) -> str:
    return world.token(world.a.users[Role.ADMIN], world.a.id)


def current_settings(world: World) -> dict:  # type: ignore[type-arg]
    response = world.call("GET", "/v1/reminder-settings", token=admin(world))
    assert response.status == 200
    return json.loads(response.body)  # type: ignore[no-any-return]


def put_settings(world: World, **changes: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    body = current_settings(world)
    body.pop("allowed_placeholders")
    body.update(changes)
    response = world.call("PUT", "/v1/reminder-settings", token=admin(world), body=body)
    return response.status, json.loads(response.body)


def test_a_template_naming_the_service_is_refused_with_field_reasons(world: World) -> None:
    templates = current_settings(world)["templates"]
    templates["reminder_sms"] = {"body": "Your therapy ({service_name}) is {appointment_time}"}
    status, body = put_settings(world, templates=templates)
    assert status == 422
    fields = {(f["path"], f["type"]) for f in body["error"]["details"]["fields"]}
    assert fields == {
        ("body.templates.reminder_sms.body", "placeholder_not_allowed"),
        ("body.templates.reminder_sms.body", "clinical_content"),
    }
    assert "Your therapy" not in json.dumps(body)  # the submitted text is not echoed


def test_settings_save_with_version_and_conflict(world: World) -> None:
    version = current_settings(world)["version"]
    status, saved = put_settings(world, allow_clinician_name=True)
    assert status == 200
    assert saved["version"] == version + 1
    assert "clinician_name" in saved["allowed_placeholders"]
    stale = current_settings(world) | {"version": version}
    stale.pop("allowed_placeholders")
    response = world.call("PUT", "/v1/reminder-settings", token=admin(world), body=stale)
    assert response.status == 409
    assert json.loads(response.body)["error"]["details"]["current_version"] == version + 1


def test_mass_assignment_on_settings_is_refused(world: World) -> None:
    status, body = put_settings(world, practice_id=world.b.id)
    assert status == 422
    assert [f["path"] for f in body["error"]["details"]["fields"]] == ["body.practice_id"]


def test_override_may_name_the_service_only_with_the_patients_authorization(world: World) -> None:
    pid = world.new_patient(world.a.id)
    override = {
        "version": 0,
        "templates": {"reminder_sms": {"body": "Your {service_name} therapy: {appointment_time}"}},
    }
    path = f"/v1/patients/{pid}/reminder-template"
    refused = world.call("PUT", path, token=admin(world), body=override)
    assert refused.status == 422
    # GIVEN the authorization is on file for this patient
    repo = PatientRepository(world.runtime.store.practice(world.a.id), world.runtime.cipher)
    patient = repo.get(pid)
    assert patient is not None
    communication = patient.communication.model_copy(update={"reminder_may_name_service": True})
    world.system_write(world.a.id, [repo.update_op(patient.bump(communication=communication))])
    accepted = world.call("PUT", path, token=admin(world), body=override)
    assert accepted.status == 200, accepted.body
    assert json.loads(accepted.body) == {"patient_id": pid, "version": 1}
    # Non-allow-listed placeholders stay refused even then.
    worse = {"version": 1, "templates": {"reminder_sms": {"body": "{diagnosis}"}}}
    assert world.call("PUT", path, token=admin(world), body=worse).status == 422


_DAYS = itertools.count(3)


def _book_for_clinician(world: World) -> tuple[str, Appointment]:
    store = world.runtime.store.practice(world.a.id)
    location = Location(
        id=new_id("loc"), name="Room Birch", kind=LocationKind.OFFICE, timezone="America/New_York"
    )
    service = Service(
        id=new_id("svc"),
        name="Trauma Therapy",
        cpt_code="90837",
        duration_minutes=50,
        fee=Decimal("150.00"),
    )
    catalogue = CatalogueRepository(store)
    pid = world.a.own_patient
    now = world.runtime.clock.now()
    start = (now + timedelta(days=next(_DAYS))).replace(minute=0, second=0, microsecond=0)
    appointment = Appointment(
        id=new_id("apt"),
        patient_ids=(pid,),
        clinician_id=world.a.users[Role.CLINICIAN].id,
        location_id=location.id,
        service_id=service.id,
        start=start,
        end=start + timedelta(minutes=50),
        created_by="test-harness",
        created_at=now,
    )
    practice = get_practice(world.runtime.store, world.a.id)
    world.system_write(
        world.a.id,
        [
            catalogue.location_op(location),
            catalogue.service_op(service),
            *AppointmentRepository(store, world.runtime.cipher).create_ops(appointment),
            *on_booked(store, world.runtime.cipher, practice, appointment, now=now),
        ],
    )
    return pid, appointment


def test_calendar_feed_has_no_phi_and_dies_on_revoke(world: World) -> None:
    _, appointment = _book_for_clinician(world)
    clinician = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    created = world.call("POST", "/v1/me/calendar-feeds", token=clinician, body={})
    assert created.status == 201
    feed = json.loads(created.body)
    path = feed["url"].split("127.0.0.1:8000", 1)[1]
    # The list never shows the secret again.
    listed = world.call("GET", "/v1/me/calendar-feeds", token=clinician)
    assert path.rsplit("/", 1)[1] not in listed.body.decode()
    served = world.call("GET", path)
    assert served.status == 200
    text = served.body.decode()
    content_type = {k.lower(): v for k, v in served.headers}["content-type"]
    assert content_type.startswith("text/calendar")
    events = Calendar.from_ical(text).walk("VEVENT")
    mine = [e for e in events if str(e["uid"]) == f"{appointment.id}@tpm"]
    assert [str(e["summary"]) for e in mine] == ["Appointment"]
    assert str(mine[0]["location"]) == "Room Birch"
    for phi in ("Testy", "McPatient", "Trauma", "testy@", world.a.own_patient):
        assert phi not in text
    # WHEN the clinician revokes it THEN the URL is gone at once
    revoked = world.call("POST", f"/v1/me/calendar-feeds/{feed['id']}/revoke", token=clinician)
    assert revoked.status == 204
    assert world.call("GET", path).status == 404
    assert world.call("GET", "/v1/calendar-feeds/" + "x" * 43).status == 404


def test_opt_out_link_and_outbox_through_the_api(world: World) -> None:
    pid, _ = _book_for_clinician(world)
    store = world.runtime.store.practice(world.a.id)
    repo = PatientRepository(store, world.runtime.cipher)
    patient = repo.get(pid)
    assert patient is not None
    on = patient.communication.model_copy(update={"email_reminders": True})
    world.system_write(world.a.id, [repo.update_op(patient.bump(communication=on))])
    notifier = world.runtime.notifier
    assert isinstance(notifier, OutboxNotifier)
    # (no quiet hours: the sweep runs on the real clock, at whatever hour the suite does)
    reminder_settings = ReminderSettingsRepository(store, world.runtime.cipher)
    current = reminder_settings.get()
    loud = current.model_copy(
        update={"quiet_hours": QuietHours(enabled=False), "version": current.version + 1}
    )
    world.system_write(world.a.id, [reminder_settings.save_op(loud)])
    ReminderSweep(world.runtime).sweep_practice(world.a.id)
    listed = world.call("GET", "/v1/outbox", token=admin(world))
    assert listed.status == 200
    items = json.loads(listed.body)["items"]
    mine = [i for i in items if i["patient_id"] == pid]
    assert mine
    assert mine[0]["to"] == "t***@example.test"  # masked
    token = mine[0]["text"].split("/v1/reminders/opt-out/", 1)[1].split()[0]
    # AND the email carried RFC 8058 one-click unsubscribe headers naming the same link
    sent = [m for m in notifier.sent if token in m.text]
    assert sent
    headers = dict(sent[-1].headers)
    assert headers["List-Unsubscribe"].endswith(f"/v1/reminders/opt-out/{token}>")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # WHEN the link is fetched (a person, or a mail scanner prefetching it) THEN it only asks
    page = world.call("GET", f"/v1/reminders/opt-out/{token}")
    assert page.status == 200
    assert b'<form method="post"' in page.body
    unchanged = repo.get(pid)
    assert unchanged is not None
    assert unchanged.communication.email_opted_out_at is None
    # WHEN the mail client's one-click POST (RFC 8058) arrives THEN the patient is opted out
    one_click = world.gateway.dispatch(
        HttpRequest(
            "POST",
            f"/v1/reminders/opt-out/{token}",
            [("content-type", "application/x-www-form-urlencoded")],
            [],
            b"List-Unsubscribe=One-Click",
            "127.0.0.1",
        )
    )
    assert one_click.status == 200, one_click.body
    assert b"no longer receive" in one_click.body
    patient = repo.get(pid)
    assert patient is not None
    assert patient.communication.email_opted_out_at is not None
    assert world.call("GET", "/v1/reminders/opt-out/" + "y" * 43).status == 404
    assert world.call("POST", "/v1/reminders/opt-out/" + "y" * 43).status == 404
    # AND other routes still take JSON only
    form = world.gateway.dispatch(
        HttpRequest(
            "POST",
            "/v1/sms/inbound",
            [("content-type", "application/x-www-form-urlencoded")],
            [],
            b"a=b",
            "127.0.0.1",
        )
    )
    assert form.status == 415


def _sns_post(world: World, message: dict[str, object]) -> int:
    """POST as SNS does: the JSON envelope labelled text/plain."""
    request = HttpRequest(
        "POST",
        "/v1/sms/inbound",
        [("content-type", "text/plain; charset=UTF-8")],
        [],
        json.dumps(message).encode(),
        "127.0.0.1",
    )
    return world.gateway.dispatch(request).status


def test_sms_webhook_takes_only_messages_sns_signed_for_the_stacks_topic(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = LocalSigner()
    monkeypatch.setattr(sns, "fetch_certificate", signer.fetch)  # the one network call
    settings = world.runtime.settings.model_copy(update={"sms_topic_arn": TOPIC})
    set_runtime(replace(world.runtime, settings=settings))
    try:
        store = world.runtime.store.practice(world.a.id)
        repo = PatientRepository(store, world.runtime.cipher)
        pid = world.a.own_patient
        patient = repo.get(pid)
        assert patient is not None
        with_phone = patient.bump(phone="+15555550177")
        world.system_write(world.a.id, list(repo.update_ops(patient, with_phone)))
        SmsNumbers(world.runtime.store).claim("+15555550100", world.a.id)
        stop = {
            "originationNumber": "+15555550177",
            "destinationNumber": "+15555550100",
            "messageBody": "STOP",
        }
        good = signer.notification(stop)
        # WHEN someone posts the STOP unsigned, signed by another key, or for another topic
        forged = [
            {k: v for k, v in good.items() if k != "Signature"},
            LocalSigner().signed({k: v for k, v in good.items() if k != "Signature"}),
            signer.notification(stop, TopicArn=TOPIC.replace("tpm-inbound-sms", "other")),
            {"Type": "Notification", "Message": json.dumps(stop)},  # the old bare envelope
        ]
        # THEN each is 403 and the patient still gets SMS
        assert [_sns_post(world, m) for m in forged] == [403] * 4
        unchanged = repo.get(pid)
        assert unchanged is not None
        assert unchanged.communication.sms_opted_out_at is None
        # WHEN SNS delivers it, signed THEN the patient is opted out
        assert _sns_post(world, good) == 204
        after = repo.get(pid)
        assert after is not None
        assert after.communication.sms_opted_out_at is not None
        # AND an unknown sender gets the same answer as a known one
        stranger = signer.notification({**stop, "originationNumber": "+15555550111"})
        assert _sns_post(world, stranger) == 204
    finally:
        set_runtime(world.runtime)
