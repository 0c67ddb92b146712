"""Telehealth visits: the host's start, waiting list, admission (with the identity check),
deny/remove and end; the patient's waiting room (location attestation, device check),
leave, audio-only fallback and in-session consent; the host's sharing switches and guest
invitations. Messages (signalling and chat) live in tpm.services.telehealth_messages,
guests' own routes in tpm.services.telehealth_guests.

Media credentials exist only for admitted participants: CreateAttendee runs at
admission (never at join), DeleteAttendee at deny/remove/leave, DeleteMeeting at end.
Every step writes its audit event in the same transaction as the change.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, NoReturn

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.adapters.video import MeetingFeatures, VideoService
from tpm.domain import telehealth as rules
from tpm.domain.scheduling import Appointment, AppointmentStatus, LocationKind
from tpm.domain.telehealth import (
    MAX_PARTICIPANTS,
    DeviceCheck,
    IdentityCheck,
    IdentityMethod,
    LocationAttestation,
    Participant,
    ParticipantKind,
    ParticipantStatus,
    TelehealthPolicy,
    Visit,
    VisitMode,
    VisitStatus,
)
from tpm.errors import Conflict, Forbidden, NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.visits import VisitRepository
from tpm.security.audit_chain import Outcome
from tpm.security.policy import Access
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice

KIND = "visit"
# A patient may enter the waiting room from this long before the appointment until this
# long after its end (a visit that runs over, or starts late).
JOIN_EARLY = timedelta(minutes=60)
JOIN_LATE = timedelta(minutes=60)
HOST_LIST_HOURS = 24


@dataclass(frozen=True)
class VisitRead:
    visit: Visit
    participants: list[Participant]
    me: Participant | None  # the caller's own participant (None for a host before start)
    host_view: bool  # True: the caller hosts (names, locations, checks); else aliases only
    licence_states: tuple[str, ...] = ()


class VisitAccess:
    """Load-and-authorise steps every visit route shares."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.visits = VisitRepository(ctx.store, ctx.runtime.cipher)
        self.video: VideoService = ctx.runtime.video

    def policy(self) -> TelehealthPolicy:
        return get_practice(self.ctx.runtime.store, self.ctx.practice_id).settings.telehealth

    def deny(self, action: str, visit: Visit, reason: str, error: Exception) -> NoReturn:
        ctx = self.ctx
        ctx.runtime.audit.record(
            ctx.store,
            ctx.event(
                action,
                KIND,
                visit.id,
                patient_id=visit.patient_ids[0],
                outcome=Outcome.DENIED,
                reason_code=reason,
            ),
        )
        raise error

    def load(self, action: str, visit_id: str) -> Visit:
        self.ctx.authorize_list(action, resource_kind=KIND)
        visit = self.visits.get(visit_id)
        if visit is None:
            raise NotFound()
        return visit

    def as_host(self, action: str, visit_id: str) -> tuple[Access, Visit]:
        """Role (403), the visit (404), the care-team relationship to every patient in it
        (404), and that the caller is the appointment's clinician (403)."""
        visit = self.load(action, visit_id)
        access = self.host_access(action, visit.id, visit.patient_ids)
        if visit.clinician_id != self.ctx.principal.user_id:
            self.deny(
                action, visit, "not_host", Forbidden("Only the visit's clinician can do this.")
            )
        return access, visit

    def host_access(self, action: str, resource_id: str, patient_ids: tuple[str, ...]) -> Access:
        accesses = [
            self.ctx.authorize(action, resource_kind=KIND, resource_id=resource_id, patient_id=pid)
            for pid in patient_ids
        ]
        return accesses[0]

    def as_participant(self, action: str, visit_id: str) -> tuple[Access, Visit, Participant]:
        """A patient in the visit, or its host: their own participant record."""
        ctx = self.ctx
        visit = self.load(action, visit_id)
        own = ctx.principal.patient_id
        if own is not None:
            if own not in visit.patient_ids:
                self.deny(action, visit, "not_in_visit", NotFound())
            access = ctx.authorize(action, resource_kind=KIND, resource_id=visit.id, patient_id=own)
            me = self.visits.participant_of(visit.id, own)
        else:
            access = self.host_access(action, visit.id, visit.patient_ids)
            if visit.clinician_id != ctx.principal.user_id:
                self.deny(action, visit, "not_host", NotFound())
            me = self.visits.participant_of(visit.id, ctx.principal.user_id)
        if me is None:
            raise rules.ParticipantState(current_status="not_joined")
        return access, visit, me

    def audit_patient(self, visit: Visit, participant: Participant | None = None) -> str:
        if participant is not None and participant.patient_id is not None:
            return participant.patient_id
        own = self.ctx.principal.patient_id
        return own if own in visit.patient_ids else visit.patient_ids[0]

    def commit(
        self,
        access: Access,
        build: Callable[[], list[Operation]],
        visit: Visit,
        *,
        patient_id: str | None = None,
        reason: str | None = None,
        resource_id: str | None = None,
    ) -> None:
        try:
            self.ctx.write(
                access,
                build,
                KIND,
                resource_id or visit.id,
                patient_id=patient_id or self.audit_patient(visit),
                reason_code=reason,
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc

    def appointment(self, appointment_id: str) -> Appointment:
        appt = AppointmentRepository(self.ctx.store, self.ctx.runtime.cipher).get(appointment_id)
        if appt is None:
            raise NotFound()
        return appt


def check_visit_appointment(appt: Appointment) -> None:
    if appt.location_kind is not LocationKind.TELEHEALTH or appt.status not in (
        AppointmentStatus.BOOKED,
        AppointmentStatus.ARRIVED,
    ):
        raise rules.NotAVisitAppointment()


def features(policy: TelehealthPolicy, visit: Visit) -> MeetingFeatures:
    return MeetingFeatures(
        max_video_resolution=policy.max_video_resolution,
        content_share=policy.screen_share_allowed,
        max_attendees=min(MAX_PARTICIPANTS, len(visit.patient_ids) + 4),
    )


class TelehealthService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.access = VisitAccess(ctx)
        self.visits = self.access.visits

    # ---- host ---------------------------------------------------------------------------

    def start(self, appointment_id: str) -> tuple[VisitRead, bool]:
        """The host opens the visit: the meeting is created (CreateMeeting, in the
        practice's media region, features from its policy) and the host joins it.
        Returns (visit, created); starting an open visit again returns it unchanged."""
        ctx = self.ctx
        ctx.authorize_list("visit.start", resource_kind=KIND)
        appt = self.access.appointment(appointment_id)
        access = self.access.host_access("visit.start", appointment_id, appt.patient_ids)
        if appt.clinician_id != ctx.principal.user_id:
            raise Forbidden("Only the appointment's clinician can start its visit.")
        check_visit_appointment(appt)
        visit, create_ops = self._visit_for(appt)
        rules.check_open(visit)
        if visit.status is VisitStatus.OPEN:
            ctx.record(
                access, KIND, visit.id, patient_id=visit.patient_ids[0], reason_code="reopen"
            )
            return self.read_host(visit), False
        policy = self.access.policy()
        video = self.access.video
        meeting = video.create_meeting(
            visit.id, policy.media_region, features(policy, visit), guard=ctx.outbound
        )
        host = Participant(
            id=new_id("vpt"),
            visit_id=visit.id,
            kind=ParticipantKind.HOST,
            alias=self._host_alias(),
            user_id=ctx.principal.user_id,
            joined_at=ctx.now(),
        )
        attendee = video.create_attendee(
            meeting.meeting_id, host.id, policy.screen_share_allowed, guard=ctx.outbound
        )
        host = rules.admit(host, ctx.now(), attendee.attendee_id, attendee.join_token, None)
        started = rules.start(visit, video.kind, meeting.meeting_id, meeting.join_info, ctx.now())
        if create_ops:
            # New in this transaction: stored at its first version, already started.
            started = started.model_copy(update={"version": 1})
            visit_ops: list[Operation] = VisitRepository.create_ops(started)
        else:
            visit_ops = [self.visits.update_op(started)]
        existing = self.visits.participant_of(visit.id, ctx.principal.user_id)
        if existing is not None:
            host = existing.bump(
                status=ParticipantStatus.ADMITTED,
                admitted_at=ctx.now(),
                attendee_id=attendee.attendee_id,
                join_token=attendee.join_token,
                left_at=None,
            )
            host_ops: list[Operation] = [self.visits.participant_op(host)]
        else:
            host_ops = self.visits.add_participant_ops(host)
        try:
            self.access.commit(
                access,
                lambda: [*visit_ops, *host_ops],
                started,
                reason="started",
            )
        except Exception:
            video.delete_meeting(meeting.meeting_id)  # nothing refers to it: don't leave it
            raise
        return self.read_host(started), True

    def _visit_for(self, appt: Appointment) -> tuple[Visit, list[Operation]]:
        """The appointment's visit, or a new one (waiting, no meeting) with the operations
        that create it: they go into the caller's audited transaction, and of two
        concurrent first comers exactly one creates it (the other gets 409 and retries)."""
        found = self.visits.for_appointment(appt.id)
        if found is not None:
            return found, []
        visit = Visit(
            id=new_id("vis"),
            appointment_id=appt.id,
            clinician_id=appt.clinician_id,
            patient_ids=appt.patient_ids,
            created_at=self.ctx.now(),
        )
        return visit, VisitRepository.create_ops(visit)

    def waiting_list(self) -> list[VisitRead]:
        """The host's visits of the last day that have not ended, with who is waiting."""
        ctx = self.ctx
        ctx.authorize_list("visit.list", resource_kind=KIND)
        access = ctx.authorize("visit.list", resource_kind=KIND, user_id=ctx.principal.user_id)
        since = (ctx.now() - timedelta(hours=HOST_LIST_HOURS)).isoformat()
        visits = [
            v for v in self.visits.for_clinician(ctx.principal.user_id, since, 50) if not v.ended
        ]
        reads = [self.read_host(v) for v in visits]
        ctx.record(access, KIND, reason_code=f"count_{len(reads)}")
        return reads

    def get(self, visit_id: str) -> VisitRead:
        """The host sees everything (names, locations, checks); a patient sees their own
        state and the other participants' aliases only."""
        ctx = self.ctx
        if ctx.principal.patient_id is None:
            access, visit = self.access.as_host("visit.read", visit_id)
            read = self.read_host(visit)
        else:
            access, visit, me = self.access.as_participant("visit.read", visit_id)
            read = VisitRead(visit, self.visits.participants(visit.id), me, host_view=False)
        ctx.record(access, KIND, visit.id, patient_id=self.access.audit_patient(visit))
        return read

    def read_host(self, visit: Visit) -> VisitRead:
        me = self.visits.participant_of(visit.id, self.ctx.principal.user_id)
        host = self.ctx.users.get(visit.clinician_id)
        return VisitRead(
            visit,
            self.visits.participants(visit.id),
            me,
            host_view=True,
            licence_states=host.licence_states if host else (),
        )

    def admit(
        self, visit_id: str, participant_id: str, identity: IdentityMethod | None
    ) -> Participant:
        """Attendee credentials are created here, and only here, for a waiting person.
        A patient is admitted only with an identity check against the chart."""
        ctx = self.ctx
        access, visit = self.access.as_host("visit.admit", visit_id)
        rules.check_started(visit)
        person = self._participant(visit, participant_id)
        if person.kind is ParticipantKind.PATIENT and identity is None:
            raise ValidationFailed(
                "Confirm the patient's identity against the chart first.",
                fields=[{"path": "body.identity_method", "type": "required_for_patients"}],
            )
        if person.status is not ParticipantStatus.WAITING:
            raise rules.ParticipantState(current_status=person.status.value)
        check = (
            IdentityCheck(method=identity, verified_by=ctx.principal.user_id, verified_at=ctx.now())
            if identity is not None
            else None
        )
        assert visit.meeting_id is not None
        attendee = self.access.video.create_attendee(
            visit.meeting_id, person.id, visit.screen_share, guard=ctx.outbound
        )
        admitted = rules.admit(person, ctx.now(), attendee.attendee_id, attendee.join_token, check)
        try:
            self.access.commit(
                access,
                lambda: [self.visits.participant_op(admitted)],
                visit,
                patient_id=self.access.audit_patient(visit, person),
                reason=f"identity_{identity.value}" if identity else person.kind.value,
                resource_id=person.id,
            )
        except Exception:
            self.access.video.delete_attendee(visit.meeting_id, attendee.attendee_id)
            raise
        return admitted

    def deny(self, visit_id: str, participant_id: str) -> Participant:
        """Refuse someone waiting, or remove someone admitted (their attendee is deleted,
        so their credentials stop working at once)."""
        ctx = self.ctx
        access, visit = self.access.as_host("visit.deny", visit_id)
        rules.check_open(visit)
        person = self._participant(visit, participant_id)
        if person.kind is ParticipantKind.HOST:
            raise rules.ParticipantState(current_status="host")
        was_present = person.present
        out = rules.leave(person, ParticipantStatus.DENIED, ctx.now())
        if was_present and visit.meeting_id and person.attendee_id:
            self.access.video.delete_attendee(visit.meeting_id, person.attendee_id)
        self.access.commit(
            access,
            lambda: [self.visits.participant_op(out)],
            visit,
            patient_id=self.access.audit_patient(visit, person),
            reason=out.status.value,
            resource_id=person.id,
        )
        return out

    def end(self, visit_id: str) -> VisitRead:
        """DeleteMeeting first (a failure changes nothing and can be retried), then
        everyone still in is out, with their attendance, in one transaction."""
        ctx = self.ctx
        access, visit = self.access.as_host("visit.end", visit_id)
        rules.check_open(visit)
        if visit.meeting_id:
            self.access.video.delete_meeting(visit.meeting_id)
        now = ctx.now()
        people = self.visits.participants(visit.id)
        out = [
            rules.leave(p, ParticipantStatus.LEFT, now)
            for p in people
            if p.status in (ParticipantStatus.WAITING, ParticipantStatus.ADMITTED)
        ]
        ended = visit.bump(
            status=VisitStatus.ENDED,
            ended_at=now,
            started_at=visit.started_at or now,
            recording=False,
            screen_share=False,
        )
        self.access.commit(
            access,
            lambda: [self.visits.update_op(ended), *(self.visits.participant_op(p) for p in out)],
            ended,
            reason=f"minutes_{ended.duration_minutes(now)}",
        )
        return self.read_host(ended)

    def set_sharing(
        self, visit_id: str, feature: Literal["recording", "screen_share"], enabled: bool
    ) -> Visit:
        """On only when the practice's policy allows it and every patient present has
        consented in this session; off at any time."""
        ctx = self.ctx
        access, visit = self.access.as_host("visit.sharing", visit_id)
        present = [
            p
            for p in self.visits.participants(visit.id)
            if p.kind is ParticipantKind.PATIENT and p.present
        ]
        try:
            changed = rules.set_sharing(
                visit,
                feature,
                enabled,
                self.access.policy(),
                present,
                ctx.principal.user_id,
                ctx.now(),
            )
        except rules.SharingNotAllowed as exc:
            self.access.deny("visit.sharing", visit, f"{feature}_not_allowed", exc)
        if changed is visit:
            ctx.record(
                access, KIND, visit.id, patient_id=visit.patient_ids[0], reason_code="unchanged"
            )
            return visit
        if feature == "screen_share" and visit.meeting_id:
            me = self.visits.participant_of(visit.id, ctx.principal.user_id)
            if me is not None and me.attendee_id:
                self.access.video.set_content_share(visit.meeting_id, me.attendee_id, enabled)
        self.access.commit(
            access,
            lambda: [self.visits.update_op(changed)],
            changed,
            reason=f"{feature}_{'on' if enabled else 'off'}",
        )
        return changed

    def invite_guest(
        self, visit_id: str, alias: str, minutes: int
    ) -> tuple[rules.GuestInvitation, str]:
        """A single-use, time-limited invitation for a guest (interpreter, family
        member). The token is shown once; only its hash is kept."""
        ctx = self.ctx
        access, visit = self.access.as_host("visit.invite", visit_id)
        rules.check_open(visit)
        if not self.access.policy().guest_invitations_allowed:
            self.access.deny(
                "visit.invite",
                visit,
                "guests_not_allowed",
                Forbidden("The practice's policy does not allow guests."),
            )
        secret = secrets.token_urlsafe(32)
        invitation = rules.GuestInvitation(
            id=new_id("vin"),
            visit_id=visit.id,
            alias=alias,
            token_hash=rules.token_hash(secret),
            created_by=ctx.principal.user_id,
            created_at=ctx.now(),
            expires_at=rules.invitation_expiry(ctx.now(), minutes),
        )
        self.access.commit(
            access,
            lambda: [self.visits.invitation_op(invitation, create=True)],
            visit,
            reason="guest_invited",
            resource_id=invitation.id,
        )
        return invitation, f"{ctx.practice_id}.{invitation.id}.{secret}"

    # ---- patients -------------------------------------------------------------------------

    def join(
        self,
        appointment_id: str,
        location: LocationAttestation,
        device: DeviceCheck | None,
    ) -> tuple[Visit, Participant]:
        """The patient enters the waiting room (before or after the host started). No
        media credentials: those come only at admission."""
        ctx = self.ctx
        ctx.authorize_list("visit.join", resource_kind=KIND)
        own = ctx.principal.patient_id
        if own is None:
            raise NotFound()
        appt = self.access.appointment(appointment_id)
        if own not in appt.patient_ids:
            raise NotFound()
        access = ctx.authorize(
            "visit.join", resource_kind=KIND, resource_id=appt.id, patient_id=own
        )
        check_visit_appointment(appt)
        now = ctx.now()
        if not (appt.start - JOIN_EARLY <= now <= appt.end + JOIN_LATE):
            raise Conflict(
                "The waiting room opens an hour before the appointment.",
                reason="outside_join_window",
            )
        visit, create_ops = self._visit_for(appt)
        rules.check_open(visit)
        existing = None if create_ops else self.visits.participant_of(visit.id, own)
        if existing is not None:
            person = rules.rejoin(existing, now, location)
            person = person.model_copy(update={"location": location, "device_check": device})
            if person == existing:
                return visit, existing
            if person.version == existing.version:
                person = person.bump()
            ops: list[Operation] = [self.visits.participant_op(person)]
        else:
            patient = PatientRepository(ctx.store, ctx.runtime.cipher).get(own)
            if patient is None:
                raise NotFound()
            person = Participant(
                id=new_id("vpt"),
                visit_id=visit.id,
                kind=ParticipantKind.PATIENT,
                alias=rules.alias_for_patient(patient.preferred_name, patient.legal_first_name),
                patient_id=own,
                joined_at=now,
                location=location,
                device_check=device,
            )
            ops = [*create_ops, *self.visits.add_participant_ops(person)]
        self.access.commit(
            access,
            lambda: list(ops),
            visit,
            patient_id=own,
            reason="waiting",
            resource_id=person.id,
        )
        return visit, person

    def consent(self, visit_id: str, recording: bool, screen_share: bool) -> Participant:
        """The patient's in-session consent; withdrawing it switches the feature off at
        once for everybody."""
        ctx = self.ctx
        access, visit, me = self.access.as_participant("visit.consent", visit_id)
        if me.kind is not ParticipantKind.PATIENT:
            raise rules.ParticipantState(current_status=me.kind.value)
        rules.check_started(visit)
        consents = tuple(
            name for name, on in (("recording", recording), ("screen_share", screen_share)) if on
        )
        changed = me.bump(consents=consents)
        ops: list[Operation] = [self.visits.participant_op(changed)]
        after = visit
        for feature in rules.withdraw_turns_off(visit, consents):
            after = after.bump(
                **{feature: False},
                sharing_changes=(
                    *after.sharing_changes,
                    rules.SharingChange(
                        feature=feature, enabled=False, at=ctx.now(), by=ctx.principal.user_id
                    ),
                ),
            )
        if after is not visit:
            ops.append(
                self.visits.update_op(after.model_copy(update={"version": visit.version + 1}))
            )
        reason = "consent_" + ("_".join(consents) if consents else "none")
        self.access.commit(
            access, lambda: list(ops), visit, patient_id=me.patient_id, reason=reason[:60]
        )
        return changed

    # ---- either side ------------------------------------------------------------------------

    def leave(self, visit_id: str) -> Participant:
        ctx = self.ctx
        access, visit, me = self.access.as_participant("visit.leave", visit_id)
        rules.check_open(visit)
        out = rules.leave(me, ParticipantStatus.LEFT, ctx.now())
        if me.present and visit.meeting_id and me.attendee_id:
            self.access.video.delete_attendee(visit.meeting_id, me.attendee_id)
        self.access.commit(
            access,
            lambda: [self.visits.participant_op(out)],
            visit,
            reason="left",
            resource_id=me.id,
        )
        return out

    def set_mode(self, visit_id: str, mode: VisitMode, reason: str) -> Visit:
        """Audio-only fallback on the same visit when video fails (and back). The final
        mode is what billing sees (audio_only: modifier 93)."""
        ctx = self.ctx
        access, visit, me = self.access.as_participant("visit.mode", visit_id)
        if not me.present:
            raise rules.ParticipantState(current_status=me.status.value)
        changed = rules.change_mode(visit, mode, reason, ctx.principal.user_id, ctx.now())
        if changed is visit:
            ctx.record(
                access,
                KIND,
                visit.id,
                patient_id=self.access.audit_patient(visit, me),
                reason_code="unchanged",
            )
            return visit
        self.access.commit(
            access, lambda: [self.visits.update_op(changed)], changed, reason=f"mode_{mode.value}"
        )
        return changed

    # ---- helpers ------------------------------------------------------------------------

    def _host_alias(self) -> str:
        user = self.ctx.users.get(self.ctx.principal.user_id)
        name = user.display_name if user else self.ctx.principal.display_name
        return name[:60] or "Clinician"

    def _participant(self, visit: Visit, participant_id: str) -> Participant:
        person = self.visits.participant(visit.id, participant_id)
        if person is None:
            raise NotFound()
        return person
