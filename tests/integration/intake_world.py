"""An intake world: the demo practice, an intake template, the local workflow runner wired
to the gateway's handlers, and helpers to act as staff and as the patient."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass
from datetime import time
from typing import Any

from support.demo_practice import DemoPractice
from support.gateway_calls import call_gateway

from tpm.adapters.notify.outbox import OutboxNotifier
from tpm.adapters.workflows.local import LocalWorkflows
from tpm.local.workflow_runner import WorkflowRunner, template_runner
from tpm.security.principal import Principal, Role
from tpm.services.context import ServiceContext
from tpm.services.intake_templates import IntakeTemplateService

# A small intake: one history form, the PHQ-9 baseline, two consents (one revocable SMS
# consent), an insurance card, review, appointment.
TEMPLATE = {
    "name": "Adult outpatient",
    "forms": [
        {"key": "history", "template_id": "client_registration"},
        {"key": "phq9", "template_id": "phq9"},
    ],
    "consents": [
        {"key": "treatment", "template_id": "informed_consent_treatment"},
        {"key": "sms", "template_id": "electronic_communication_consent"},
    ],
    "insurance_card": True,
    "remind_after_hours": 24,
    "reminders_before_stall": 1,
}


def owner_context(demo: DemoPractice) -> ServiceContext:
    store = demo.runtime.store.practice(demo.practice_id)
    owner = next(u for u in _users(demo) if Role.OWNER in u.roles)
    principal = Principal(
        user_id=owner.id,
        practice_id=demo.practice_id,
        roles=frozenset({Role.OWNER}),
        session_id="test",
        auth_time=demo.clock.now(),
        mfa_authenticated=True,
    )
    del store
    return ServiceContext(demo.runtime, principal)


def _users(demo: DemoPractice) -> list[Any]:
    from tpm.local.demo import DEMO_ACCOUNTS
    from tpm.repositories.users import UserRepository

    repo = UserRepository(demo.runtime.store.practice(demo.practice_id), demo.runtime.cipher)
    found = []
    for account in DEMO_ACCOUNTS:
        user = repo.find_by_email(account.email)
        if user is not None:
            found.append(user)
    return found


def png_bytes(width: int = 320, height: int = 200, exif: bool = True) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (width, height), (40, 90, 160))
    out = io.BytesIO()
    if exif:
        info = Image.Exif()
        info[0x010F] = "SyntheticCam"  # Make
        info[0x8825] = {1: "N", 2: (1.0, 2.0, 3.0)}  # GPS
        image.save(out, format="JPEG", exif=info.tobytes())
    else:
        image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class IntakeWorld:
    demo: DemoPractice
    runner: WorkflowRunner
    template_id: str
    patient_id: str

    def call(self, role: Role, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        response = call_gateway(
            self.demo.gateway, method, path, token=self.demo.tokens[role], body=body, **kw
        )
        data = json.loads(response.body) if response.body else None
        return response.status, data

    def ok(self, role: Role, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, data = self.call(role, method, path, body, **kw)
        assert 200 <= status < 300, (method, path, status, data)
        return data

    def sign_in_again(self) -> None:
        """After moving the clock past the idle timeout."""
        from support.demo_practice import ACCOUNTS, PASSWORD_ONLY_ROLES

        for role in PASSWORD_ONLY_ROLES:
            login = {"practice": "local", "email": ACCOUNTS[role].email}
            login["password"] = ACCOUNTS[role].password
            response = call_gateway(self.demo.gateway, "POST", "/v1/auth/login", body=login)
            assert response.status == 200, response.body
            self.demo.tokens[role] = str(json.loads(response.body)["access_token"])

    def run(self) -> int:
        return self.runner.run_until_idle()

    def outbox_code(self) -> str:
        notifier = self.demo.runtime.notifier
        assert isinstance(notifier, OutboxNotifier)
        for entry in reversed(notifier.sent):
            found = re.search(r"one-time (?:portal )?code is (\d{6})", entry.text)
            if found:
                return found.group(1)
        raise AssertionError("no code was sent")

    def card(self, side: str) -> dict[str, Any]:
        payload = {"content_base64": base64.b64encode(png_bytes()).decode()}
        return self.ok(Role.PATIENT, "POST", f"/v1/me/intake/insurance-card/{side}", payload)


def first_visit_catalogue(demo: DemoPractice) -> tuple[str, str]:
    """(service id, location id): an office, a 60-minute first-visit service and the demo
    clinician's weekday hours (09:00-17:00 in the practice's zone), seeded directly."""
    from decimal import Decimal

    from tpm.domain.availability import Availability, WeeklyRule
    from tpm.domain.scheduling import Location, LocationKind, Service
    from tpm.ids import new_id
    from tpm.repositories.availability import AvailabilityRepository
    from tpm.repositories.catalogue import CatalogueRepository

    store = demo.runtime.store.practice(demo.practice_id)
    clinician = next(u for u in _users(demo) if Role.CLINICIAN in u.roles)
    location = Location(
        id=new_id("loc"), name="Room 1", kind=LocationKind.OFFICE, timezone="America/Chicago"
    )
    service = Service(
        id=new_id("svc"),
        name="First visit",
        cpt_code="90791",
        duration_minutes=60,
        fee=Decimal("180.00"),
    )
    hours = Availability(
        clinician_id=clinician.id,
        weekly=tuple(
            WeeklyRule(weekday=d, start=time(9), end=time(17), location_ids=(location.id,))
            for d in range(5)
        ),
        version=1,
    )
    catalogue = CatalogueRepository(store)
    store.transact(
        [
            catalogue.location_op(location),
            catalogue.service_op(service),
            AvailabilityRepository(store).availability_op(hours),
        ]
    )
    return service.id, location.id


def intake_world(demo: DemoPractice) -> IntakeWorld:
    service_id, _ = first_visit_catalogue(demo)
    fields = {**TEMPLATE, "first_visit_service_id": service_id}
    template = IntakeTemplateService(owner_context(demo)).save(None, 0, fields)
    workflows = demo.runtime.workflows
    assert isinstance(workflows, LocalWorkflows)
    runner = template_runner(workflows, demo.runtime.store, demo.gateway.locked_handler)
    me = call_gateway(demo.gateway, "GET", "/v1/me", token=demo.tokens[Role.PATIENT])
    patient_id = str(json.loads(me.body)["patient_id"])
    return IntakeWorld(demo, runner, template.id, patient_id)


def filled(form: dict[str, Any]) -> dict[str, Any]:
    """Content that satisfies a template's schema (and its fields required at signing)."""
    return _example(form["schema"], form["schema"])


def _example(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[-1]
        return _example(root.get("$defs", {}).get(ref, {}), root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object" or "properties" in schema:
        out = {}
        for name, sub in schema.get("properties", {}).items():
            out[name] = _example(sub, root)
        return out
    if kind == "array":
        count = max(1, schema.get("minItems", 1))
        return [_example(schema.get("items", {}), root) for _ in range(count)]
    if kind == "boolean":
        return True
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return schema.get("minimum", 0)
    fmt = schema.get("format")
    if fmt == "date":
        return "2026-12-01"
    if fmt == "email":
        return "pat.example@example.test"
    if fmt == "date-time":
        return "2026-12-01T10:00:00Z"
    if "pattern" in schema:
        return _pattern_example(schema["pattern"])
    return "x" * max(1, schema.get("minLength", 1))


def _pattern_example(pattern: str) -> str:
    samples = {r"^\+[1-9]\d{6,14}$": "+15555550123"}
    return samples.get(pattern, "12345")
