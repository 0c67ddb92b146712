"""Proxy portal access, the proxy's side: the patients they act for (the switcher), the
patient's care-team threads that are visible to proxies, writing to them, and the
patient's upcoming appointments.

Every call names the patient it acts for and passes tpm.services.proxy_access (the role
AND a live grant in scope); every read and write is audited with the proxy as the actor and
the patient as the patient. A proxy's message is written by them, for the patient: staff
see "written by <proxy> for <patient>" (author_kind proxy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tpm.domain.messaging import (
    AuthorKind,
    Message,
    MessagingRuleError,
    Thread,
    ThreadKind,
    check_recipients,
    sender_may_write,
)
from tpm.domain.proxies import (
    ProxyGrant,
    ProxyScope,
    access_ends_at,
    denial,
    effective_scopes,
)
from tpm.domain.scheduling import Appointment
from tpm.ids import new_id
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.messaging import MessagingRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.proxies import ProxyRepository
from tpm.services.context import ServiceContext
from tpm.services.message_append import Appended, Appender, Author, rule_error
from tpm.services.messaging_access import KIND as THREAD_KIND
from tpm.services.messaging_access import MessagingAccess
from tpm.services.patient_portal import portal_display_name
from tpm.services.practices import get_practice
from tpm.services.proxy_access import ProxyAccess, ProxyReach
from tpm.services.rate_limits import enforce

SEND_LIMIT, SEND_WINDOW = 120, 3600
APPOINTMENTS_AHEAD = timedelta(days=180)
MAX_THREADS = 100


@dataclass(frozen=True)
class ActingFor:
    """One entry of the patient switcher."""

    patient_id: str
    display_name: str
    grant: ProxyGrant
    scopes: frozenset[ProxyScope]
    access_ends_at: datetime | None


@dataclass(frozen=True)
class ProxyThreadPage:
    thread: Thread
    messages: list[Message]  # oldest first
    earlier_cursor: str | None
    names: dict[str, str]


@dataclass(frozen=True)
class ProxyAppointment:
    appointment: Appointment
    clinician_name: str


class ProxyPortal:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.gate = ProxyAccess(ctx)
        self.messages = MessagingRepository(ctx.store, ctx.runtime.cipher)

    # ---- the switcher -------------------------------------------------------------------

    def acting_for(self) -> list[ActingFor]:
        ctx = self.ctx
        access = ctx.authorize(
            "proxy.patients.read", resource_kind="proxy_grant", user_id=ctx.principal.user_id
        )
        grants = ProxyRepository(ctx.store, ctx.runtime.cipher)
        patients = PatientRepository(ctx.store, ctx.runtime.cipher)
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        out: list[ActingFor] = []
        for grant in grants.for_proxy(ctx.principal.user_id):
            patient = patients.get(grant.patient_id)
            if patient is None:
                continue
            restriction = grants.restriction(grant.patient_id)
            restricted = restriction is not None and restriction.restricted
            age = practice.settings.age_of_majority
            live = denial(
                grant,
                None,
                date_of_birth=patient.date_of_birth,
                age_of_majority=age,
                zone=practice.zone,
                restricted=restricted,
                now=ctx.now(),
            )
            if live is not None:
                continue
            out.append(
                ActingFor(
                    patient.id,
                    portal_display_name(patient),
                    grant,
                    effective_scopes(grant, restricted),
                    access_ends_at(grant, patient.date_of_birth, age, practice.zone),
                )
            )
        # One event per patient shown: each name is that patient's PHI.
        for entry in out:
            ctx.record(access, "proxy_grant", entry.grant.id, patient_id=entry.patient_id)
        if not out:
            ctx.record(access, "proxy_grant", reason_code="count_0")
        return out

    # ---- messages -------------------------------------------------------------------------

    def threads(self, patient_id: str) -> list[Thread]:
        reach = self._reach("proxy.message.read", patient_id)
        threads, _ = self.messages.for_patient(patient_id, MAX_THREADS, None)
        visible = [t for t in threads if t.kind is ThreadKind.PATIENT and t.proxy_visible]
        self.ctx.record(
            reach.access, THREAD_KIND, patient_id=patient_id, reason_code=f"count_{len(visible)}"
        )
        return visible

    def thread(
        self, patient_id: str, thread_id: str, limit: int, cursor: str | None
    ) -> ProxyThreadPage:
        reach = self._reach("proxy.message.read", patient_id)
        thread = self._thread(reach, patient_id, thread_id)
        newest_first, earlier = self.messages.messages(thread.id, limit, cursor)
        names = {}
        for user_id in thread.staff_ids:
            user = self.ctx.users.get(user_id)
            names[user_id] = user.display_name if user else ""
        self.ctx.record(reach.access, THREAD_KIND, thread.id, patient_id=patient_id)
        return ProxyThreadPage(thread, list(reversed(newest_first)), earlier, names)

    def start(
        self, patient_id: str, subject: str, body: str, recipient_ids: tuple[str, ...]
    ) -> Appended:
        """A new thread with the patient's care team, visible to the patient's proxies."""
        ctx = self.ctx
        reach = self._reach("proxy.message.send", patient_id)
        team = self._care_team(patient_id)
        try:
            if not team:
                raise MessagingRuleError([("recipient_ids", "no_care_team")])
            chosen = check_recipients(recipient_ids or tuple(team), team)
        except MessagingRuleError as exc:
            raise rule_error(exc) from exc
        self._rate_limit()
        link = PatientRepository(ctx.store, ctx.runtime.cipher).portal_link(patient_id)
        now = ctx.now()
        thread = Thread(
            id=new_id("thr"),
            kind=ThreadKind.PATIENT,
            patient_id=patient_id,
            patient_user_id=str(link["user_id"]) if link else None,
            subject=subject,
            patient_name=portal_display_name(reach.patient),
            staff_ids=chosen,
            proxy_visible=True,
            proxy_user_ids=(ctx.principal.user_id,),
            created_by=ctx.principal.user_id,
            created_at=now,
            last_message_at=now,
            last_author_kind=AuthorKind.PROXY,
        )
        appender = Appender(ctx, self.messages, reach.practice)
        return appender.append(
            reach.access, thread, self._author(), body, (), created=True, reason="proxy_thread"
        )

    def reply(self, patient_id: str, thread_id: str, body: str) -> Appended:
        reach = self._reach("proxy.message.send", patient_id)
        thread = self._thread(reach, patient_id, thread_id)
        self._rate_limit()
        appender = Appender(self.ctx, self.messages, reach.practice)
        return appender.append(
            reach.access, thread, self._author(), body, (), created=False, reason="proxy_reply"
        )

    # ---- appointments ---------------------------------------------------------------------

    def appointments(self, patient_id: str) -> list[ProxyAppointment]:
        """The patient's appointments from today on (the next six months)."""
        ctx = self.ctx
        reach = ProxyAccess(ctx).reach(
            "proxy.appointment.read",
            patient_id,
            ProxyScope.APPOINTMENTS,
            resource_kind="appointment",
        )
        start = ctx.now() - timedelta(days=1)
        found, _ = AppointmentRepository(ctx.store, ctx.runtime.cipher).for_patient(
            patient_id, start, start + APPOINTMENTS_AHEAD, 100, None
        )
        names: dict[str, str] = {}
        out: list[ProxyAppointment] = []
        for appointment in found:
            if appointment.clinician_id not in names:
                user = ctx.users.get(appointment.clinician_id)
                names[appointment.clinician_id] = user.display_name if user else ""
            out.append(ProxyAppointment(appointment, names[appointment.clinician_id]))
        ctx.record(
            reach.access, "appointment", patient_id=patient_id, reason_code=f"count_{len(out)}"
        )
        return out

    # ---- helpers --------------------------------------------------------------------------

    def _reach(self, action: str, patient_id: str) -> ProxyReach:
        return self.gate.reach(action, patient_id, ProxyScope.MESSAGING, resource_kind=THREAD_KIND)

    def _thread(self, reach: ProxyReach, patient_id: str, thread_id: str) -> Thread:
        thread = self.messages.get_thread(thread_id)
        if (
            thread is None
            or thread.patient_id != patient_id
            or not sender_may_write(thread, AuthorKind.PROXY)
        ):
            # Another patient's thread, a staff thread, or the patient's own (not marked
            # visible to proxies): the same answer as no thread, audited.
            raise self.gate.denied(
                reach.access.action, THREAD_KIND, patient_id, "thread_not_visible"
            )
        return thread

    def _author(self) -> Author:
        p = self.ctx.principal
        return Author(p.user_id, AuthorKind.PROXY, p.display_name)

    def _care_team(self, patient_id: str) -> list[str]:
        access = MessagingAccess(self.ctx)
        team = self.ctx.relationships.care_team(patient_id)
        return [u for u in team if access.may_take_part(self.ctx.users.get(u))]

    def _rate_limit(self) -> None:
        ctx = self.ctx
        enforce(
            ctx.store,
            ctx.runtime.clock,
            "message-send",
            ctx.principal.user_id,
            SEND_LIMIT,
            SEND_WINDOW,
        )
