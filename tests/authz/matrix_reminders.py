"""Authorization matrix rows for the reminders routes (see matrix.py for the format)."""

from __future__ import annotations

import secrets
from typing import Any

from matrix import CL, OW, A, Case, S, fixed, patient_target
from world import World

from tpm.clock import to_rfc3339
from tpm.ids import new_id
from tpm.repositories.public_tokens import PublicTokens
from tpm.repositories.reminders import (
    OptOutTokens,
    ReminderSettingsRepository,
    opt_out_token,
    token_hash,
)
from tpm.security.principal import Role


def settings_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    store = world.runtime.store.practice(world.a.id)
    current = ReminderSettingsRepository(store, world.runtime.cipher).get()
    body = current.model_dump(mode="json", exclude={"version"})
    return {}, {**body, "version": current.version}


def override_version(world: World, pid: str) -> int:
    for practice in (world.a, world.b):
        store = world.runtime.store.practice(practice.id)
        found = ReminderSettingsRepository(store, world.runtime.cipher).override(pid)
        if found is not None:
            return found[1]
    return 0


TEMPLATE = {
    "reminder_email": {
        "subject": "See you soon at {practice_name}",
        "body": "Hi {first_name}, see you on {appointment_time}. {portal_link}",
    }
}


def opt_out_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    pid = world.a.own_patient
    token = opt_out_token(world.runtime.cipher, world.a.id, pid, "email")
    world.runtime.store.practice(world.a.id).put(OptOutTokens.register_op(token, pid, "email").item)
    return {"token": token}, None


def feed_item(world: World, user_id: str, token: str) -> str:
    store = world.runtime.store.practice(world.a.id)
    feed_id = new_id("cal")
    store.put(
        {
            "pk": f"CALENDAR_FEEDS#{user_id}",
            "sk": feed_id,
            "id": feed_id,
            "label": "Harness feed",
            "created_at": to_rfc3339(world.runtime.clock.now()),
            "revoked_at": None,
            "version": 1,
            "token_hash": token_hash(token),
        }
    )
    PublicTokens(world.runtime.store).register(
        token, "calendar", world.a.id, feed_id=feed_id, user_id=user_id
    )
    return feed_id


def revoke_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    caller = world.a.users[role]
    owner = caller if variant == "own" else world.a.users[Role.FRONT_DESK]
    return {"feedId": feed_item(world, owner.id, secrets.token_urlsafe(32))}, None


def feed_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    token = secrets.token_urlsafe(32)
    feed_item(world, world.a.users[Role.CLINICIAN].id, token)
    return {"token": token}, None


ADMINS = {OW: 200, A: 200}
FEED_ROLES = {OW: 201, CL: 201, S: 201}

CASES: list[Case] = [
    Case(
        "GET",
        "/v1/reminder-settings",
        ADMINS,
        audit=("reminder.settings.read",),
    ),
    Case(
        "PUT",
        "/v1/reminder-settings",
        ADMINS,
        target=settings_body,
        audit=("reminder.settings.update",),
    ),
    Case(
        "PUT",
        "/v1/patients/{patientId}/reminder-template",
        {OW: (200, 200, 404), A: (200, 200, 404)},
        variants=("own", "other", "foreign"),
        target=patient_target(
            lambda w, pid: {"version": override_version(w, pid), "templates": TEMPLATE}
        ),
        audit=("reminder.template.update",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/outbox", ADMINS, audit=("outbox.read",)),
    Case(  # a confirmation page: changes and records nothing (mail scanners prefetch)
        "GET",
        "/v1/reminders/opt-out/{token}",
        {},
        public=True,
        anonymous=200,
        target=opt_out_target,
    ),
    Case(
        "POST",
        "/v1/reminders/opt-out/{token}",
        {},
        public=True,
        anonymous=200,
        target=opt_out_target,
        audit=("reminder.opt_out",),
    ),
    Case(
        "POST",
        "/v1/sms/inbound",
        {},
        public=True,
        anonymous=403,  # not signed by SNS (tests/authz/test_reminders_api.py signs one)
        target=fixed(
            {
                "originationNumber": "+15555550100",
                "destinationNumber": "+15555550199",
                "messageBody": "STOP",
            }
        ),
    ),
    Case(
        "POST",
        "/v1/me/calendar-feeds",
        FEED_ROLES,
        target=fixed({"label": "Work calendar"}),
        audit=("calendar_feed.manage",),
    ),
    Case(
        "GET",
        "/v1/me/calendar-feeds",
        {OW: 200, CL: 200, S: 200},
        audit=("calendar_feed.manage",),
    ),
    Case(
        "POST",
        "/v1/me/calendar-feeds/{feedId}/revoke",
        {OW: (204, 404), CL: (204, 404), S: (204, 404)},
        variants=("own", "other"),
        target=revoke_target,
        audit=("calendar_feed.manage",),
    ),
    Case(
        "GET",
        "/v1/calendar-feeds/{token}",
        {},
        public=True,
        anonymous=200,
        target=feed_target,
        audit=("calendar_feed.read",),
    ),
]
