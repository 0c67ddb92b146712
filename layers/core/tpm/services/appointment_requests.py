"""Prospective patients ask for an appointment from the public site; staff accept (creating
the patient and booking in one transaction) or decline.

The public route has no account behind it: the practice comes from its slug, the request's
contact fields are sealed, every submission is audited as anonymous, and a strict
per-address quota keeps the form from being used to flood the practice.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tpm.adapters.store.base import Check, ConditionFailed
from tpm.domain.patients import Patient
from tpm.domain.scheduling import Appointment
from tpm.errors import NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.patients import PatientRepository
from tpm.repositories.waitlist import AppointmentRequest, WaitlistRepository
from tpm.runtime import get_runtime
from tpm.security.audit_chain import AuditEvent
from tpm.services.authentication import RequestMeta
from tpm.services.catalogue import invalid
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice, practice_id_for_slug
from tpm.services.rate_limits import enforce
from tpm.services.scheduling import BookingRequest, Bookings

REQUESTS_PER_ADDRESS_PER_HOUR = 3
REQUESTS_PER_PRACTICE_PER_HOUR = 60


def submit_request(fields: dict[str, Any], meta: RequestMeta) -> AppointmentRequest:
    runtime = get_runtime()
    practice_id = practice_id_for_slug(runtime.store, str(fields.pop("practice")))
    if practice_id is None:
        raise NotFound()
    store = runtime.store.practice(practice_id)
    address = meta.source_ip or "unknown"
    enforce(store, runtime.clock, "appt-request-ip", address, REQUESTS_PER_ADDRESS_PER_HOUR, 3600)
    # A spread-out flood (many addresses) still cannot exceed the practice-wide ceiling.
    enforce(store, runtime.clock, "appt-request", "all", REQUESTS_PER_PRACTICE_PER_HOUR, 3600)
    try:
        request = AppointmentRequest(id=new_id("req"), created_at=runtime.clock.now(), **fields)
    except ValidationError as exc:
        raise invalid(exc) from None
    repo = WaitlistRepository(store, runtime.cipher)
    event = AuditEvent(
        practice_id=practice_id,
        actor_kind="anonymous",
        actor_id="anonymous",
        action="appointment_request.create",
        resource_kind="appointment_request",
        resource_id=request.id,
        source_ip=meta.source_ip,
        user_agent=meta.user_agent[:512],
        request_id=meta.request_id,
    )
    runtime.audit.write_with_audit(store, lambda: [repo.request_op(request)], event)
    return request


class AppointmentRequestService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = WaitlistRepository(ctx.store, ctx.runtime.cipher)

    def page(self, limit: int, cursor: str | None) -> tuple[list[AppointmentRequest], str | None]:
        access = self.ctx.authorize("appointment_request.list", resource_kind="appointment_request")
        found, next_cursor = self.repo.requests(limit, cursor)
        self.ctx.record(access, "appointment_request", reason_code=f"count_{len(found)}")
        return found, next_cursor

    def accept(self, request_id: str, body: Any) -> Appointment:
        """Creates the patient from the request (staff confirm the legal name and date of
        birth) and books the first appointment, in one transaction with the request."""
        ctx = self.ctx
        access = ctx.authorize(
            "appointment_request.decide",
            resource_kind="appointment_request",
            resource_id=request_id,
        )
        request = self._open(request_id, body.version)
        try:
            patient = Patient(
                id=new_id("pat"),
                legal_first_name=body.legal_first_name,
                legal_last_name=body.legal_last_name,
                date_of_birth=body.date_of_birth,
                email=request.email,
                phone=request.phone,
                timezone=get_practice(ctx.runtime.store, ctx.practice_id).timezone,
                created_at=ctx.now(),
                created_by=ctx.principal.user_id,
            )
        except ValidationError as exc:
            raise invalid(exc) from None
        b = Bookings(ctx)
        service, location = b.service(body.service_id), b.location(body.location_id)
        b.check_clinician(body.clinician_id)
        req = BookingRequest((patient.id,), body.clinician_id, service.id, location.id, body.start)
        override = body.override.reason if body.override is not None else None
        (appt,), allowed = b.gate([b.new_appointment(req, service, location)], override)
        accepted = request.model_copy(
            update={
                "status": "accepted",
                "patient_id": patient.id,
                "appointment_id": appt.id,
                "version": request.version + 1,
            }
        )
        patients = PatientRepository(ctx.store, ctx.runtime.cipher)

        def build() -> list[Any]:
            ops = [patients.create_op(patient), self.repo.request_op(accepted)]
            # The patient is created in this very transaction: no existence Check.
            return ops + [op for op in b.booking_ops(appt) if not _is_patient_check(op)]

        b.commit(access, build, appt, reason_code="request_accepted", override=allowed)
        return appt

    def decline(self, request_id: str, version: int) -> AppointmentRequest:
        ctx = self.ctx
        access = ctx.authorize(
            "appointment_request.decide",
            resource_kind="appointment_request",
            resource_id=request_id,
        )
        request = self._open(request_id, version)
        declined = request.model_copy(update={"status": "declined", "version": version + 1})
        try:
            ctx.write(
                access,
                lambda: [self.repo.request_op(declined)],
                "appointment_request",
                request_id,
                reason_code="declined",
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
        return declined

    def _open(self, request_id: str, version: int) -> AppointmentRequest:
        request = self.repo.request(request_id)
        if request is None:
            raise NotFound()
        if request.version != version:
            raise VersionConflict(current_version=request.version)
        if request.status != "new":
            raise ValidationFailed(fields=[{"path": "body", "type": "already_decided"}])
        return request


def _is_patient_check(op: Any) -> bool:
    return isinstance(op, Check) and op.pk.startswith("PATIENT#")
