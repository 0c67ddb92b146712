"""Intake, staff side: start an intake for a patient (portal invitation + workflow), the
queue (stalled first), the review screen, approve or request changes, resend the
invitation, cancel, restart; intake templates live in tpm.services.intake_templates and
the patient's side in tpm.services.intake_portal.

The workflow (statemachines/intake.asl.json, tasks in functions/intake_tasks) opens steps
and waits for them with task tokens; this module and the portal's answer those waits
(`send_task_success`) after their own transaction commits. A lost answer (a crash in
between) is repaired by the workflow itself: a waiting step that is already done answers
at once when its task runs again (restart), and staff can restart any intake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.adapters.workflows import TaskGone
from tpm.domain.intake import (
    OPEN_STATUSES,
    REOPENABLE,
    Consent,
    FormItem,
    FormResponse,
    Intake,
    IntakeStatus,
    IntakeTemplate,
    Step,
    StepStatus,
    new_steps,
)
from tpm.domain.notes import Change, diff
from tpm.domain.scheduling import Appointment
from tpm.errors import Conflict, NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.intake import IntakeRepository
from tpm.repositories.patients import PatientRepository
from tpm.security.policy import Access, Scope
from tpm.services.context import ServiceContext
from tpm.services.intake_forms import save_form
from tpm.services.intake_messages import INVITATION_BODY, INVITATION_SUBJECT, fill, first_name, send
from tpm.services.patient_portal import invite_to_portal
from tpm.services.practices import get_practice
from tpm.services.templates import TemplateCatalog

KIND = "intake"
WORKFLOW = "intake"
STALL_SECONDS = 30 * 86400  # how long a stalled intake waits for staff before it ends
QUEUE_SCAN = 500  # rows one care-team page of the queue reads at most


class IntakeClosed(Conflict):
    code = "intake_closed"
    message = "This intake is completed or cancelled."


class IntakeStepNotOpen(Conflict):
    code = "intake_step_not_open"
    message = "That step of the intake is not open."


@dataclass(frozen=True)
class IntakeDetail:
    intake: Intake
    template: IntakeTemplate
    forms: dict[str, FormResponse]
    consents: list[Consent]
    cards: dict[str, Any]
    content_visible: bool  # False: statuses only (front desk, owner, admin)


def workflow_input(intake: Intake, template: IntakeTemplate) -> dict[str, Any]:
    """Ids, flags and numbers only: Step Functions keeps this outside our envelopes."""
    return {
        "intake_id": intake.id,
        "patient_id": intake.patient_id,
        "run": intake.run,
        "remind_after_seconds": template.remind_after_hours * 3600,
        "review_after_seconds": 7 * 86400,
        "stall_seconds": STALL_SECONDS,
    }


def answer(ctx: ServiceContext, intake_id: str, step: str, output: dict[str, Any]) -> bool:
    """Tell the workflow a step is done. False when it was not waiting for it (it will
    find the step done when it asks next: every wait checks first)."""
    found = IntakeRepository(ctx.store, ctx.runtime.cipher).token(intake_id, step)
    if found is None:
        return False
    try:
        ctx.runtime.workflows.send_task_success(found[0], {"step": step, **output})
    except TaskGone:
        return False
    return True


class IntakeService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.intakes = IntakeRepository(ctx.store, ctx.runtime.cipher)
        self.patients = PatientRepository(ctx.store, ctx.runtime.cipher)

    # ---- start ------------------------------------------------------------------------

    def start(self, patient_id: str, template_id: str) -> Intake:
        ctx = self.ctx
        access = ctx.authorize(
            "intake.start", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        patient = self.patients.get(patient_id)
        if patient is None:
            raise NotFound()
        template = self.intakes.template(template_id)
        if template is None:
            raise ValidationFailed(
                fields=[{"path": "body.template_id", "type": "unknown_template"}]
            )
        if any(i.status in OPEN_STATUSES for i in self.intakes.for_patient(patient_id)):
            raise Conflict("This patient already has an intake in progress.")
        now = ctx.now()
        intake = Intake(
            id=new_id("int"),
            patient_id=patient_id,
            template_id=template.id,
            template_version=template.version,
            steps=new_steps(template),
            started_by=ctx.principal.user_id,
            created_at=now,
            updated_at=now,
        )
        ctx.write(
            access, lambda: [self.intakes.put_op(intake)], KIND, intake.id, patient_id=patient_id
        )
        self._invite(intake)
        return self._run(intake, template)

    def _run(self, intake: Intake, template: IntakeTemplate) -> Intake:
        """Start this run's execution (idempotent by name) and remember its id."""
        ctx = self.ctx
        ref = ctx.runtime.workflows.start(
            ctx.practice_id, WORKFLOW, f"{intake.id}-{intake.run}", workflow_input(intake, template)
        )
        for _ in range(5):  # the workflow may already be moving the intake on
            current = self.intakes.get(intake.id) or intake
            if current.execution_id == ref.id:
                return current
            changed = current.bump(ctx.now(), execution_id=ref.id)
            event = ctx.event(
                "intake.workflow.start", KIND, intake.id, patient_id=intake.patient_id
            )
            try:
                write_ops: list[Operation] = [self.intakes.put_op(changed)]
                ctx.runtime.audit.write_with_audit(ctx.store, write_ops.copy, event)
            except ConditionFailed:
                continue
            return changed
        raise VersionConflict()

    def _invite(self, intake: Intake) -> None:
        """A portal invitation (or a fresh one), emailed to the address on file. A patient
        who already has an active portal account needs none: they sign in."""
        ctx = self.ctx
        patient = self.patients.get(intake.patient_id)
        if patient is None:
            raise NotFound()
        link = self.patients.portal_link(intake.patient_id)
        if link is not None:
            account = ctx.users.get(str(link["user_id"]))
        else:
            account = ctx.users.find_by_email(patient.email) if patient.email else None
        if (
            account is not None
            and account.patient_id == intake.patient_id
            and account.status.value == "active"
        ):
            return
        invitation = invite_to_portal(ctx, intake.patient_id, None)
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        portal = ctx.runtime.settings.portal_url.rstrip("/")
        link_url = f"{portal}/#/accept?practice={practice.slug}&token={invitation.token}"
        values = {"practice_name": practice.name, "first_name": first_name(patient)}
        row = send(
            ctx.runtime,
            ctx.store,
            patient,
            channel="email",
            subject=fill(INVITATION_SUBJECT, **values),
            text=fill(INVITATION_BODY, **values, portal_link=link_url),
            intake_id=intake.id,
            guard=ctx.outbound,
        )
        ctx.runtime.audit.write_with_audit(
            ctx.store,
            lambda: [row],
            ctx.event("intake.invite", KIND, intake.id, patient_id=intake.patient_id),
        )

    # ---- staff reads --------------------------------------------------------------------

    def queue(self, limit: int, cursor: str | None) -> tuple[list[Intake], str | None]:
        """Open intakes, stalled first, then by last activity (oldest first). Roles with a
        care-team scope see only their patients' intakes; a supervisor also those of their
        supervisees' patients (the permission table's `supervisees` scope). A filtered
        page keeps reading the queue until it is full (or QUEUE_SCAN rows were read): its
        cursor always points after the last row read, so nothing is skipped or repeated."""
        ctx = self.ctx
        scopes = ctx.authorize_list("intake.list", resource_kind=KIND)
        if Scope.PRACTICE in scopes:
            found, next_cursor = self.intakes.queue(limit, cursor)
        else:
            me = ctx.principal.user_id
            team = {me}
            if Scope.SUPERVISEES in scopes:
                team |= set(ctx.users.supervisees_of(me))
            found, next_cursor, read = [], cursor, 0
            while True:
                page, next_cursor = self.intakes.queue(limit - len(found), next_cursor)
                read += len(page)
                found += [i for i in page if team & set(ctx.relationships.care_team(i.patient_id))]
                if len(found) >= limit or next_cursor is None or read >= QUEUE_SCAN:
                    break
        ctx.runtime.audit.record(
            ctx.store,
            ctx.event("intake.list", KIND, reason_code=f"count_{len(found)}"),
        )
        return found, next_cursor

    def for_patient(self, patient_id: str) -> list[Intake]:
        ctx = self.ctx
        access = ctx.authorize(
            "intake.read", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        if self.patients.get(patient_id) is None:
            raise NotFound()
        found = self.intakes.for_patient(patient_id)
        ctx.record(access, KIND, patient_id=patient_id, reason_code=f"count_{len(found)}")
        return found

    def load(self, action: str, intake_id: str) -> tuple[Access, Intake]:
        ctx = self.ctx
        ctx.authorize_list(action, resource_kind=KIND)
        intake = self.intakes.get(intake_id)
        if intake is None:
            raise NotFound()
        access = ctx.authorize(
            action, resource_kind=KIND, resource_id=intake_id, patient_id=intake.patient_id
        )
        return access, intake

    def detail(self, intake_id: str) -> IntakeDetail:
        ctx = self.ctx
        access, intake = self.load("intake.read", intake_id)
        template = self.template_of(intake)
        content = self._may_read_content(intake.patient_id)
        forms = self.intakes.forms(intake.id) if content else {}
        consents = [
            c for c in self.intakes.consents_for(intake.patient_id) if c.intake_id == intake.id
        ]
        cards = self.intakes.cards(intake.patient_id)
        if not content:
            intake = intake.model_copy(update={"review_comment": None})
        ctx.record(access, KIND, intake.id, patient_id=intake.patient_id)
        return IntakeDetail(intake, template, forms, consents, cards, content)

    def _may_read_content(self, patient_id: str) -> bool:
        ctx = self.ctx
        if not ctx.authorizer.table.scopes(ctx.principal.roles, "intake.form.read"):
            return False
        try:
            ctx.authorizer.check(
                ctx.principal, "intake.form.read", patient_id=patient_id, now=ctx.now()
            )
        except (NotFound, Exception):
            return False
        return True

    def template_of(self, intake: Intake) -> IntakeTemplate:
        template = self.intakes.template(intake.template_id, intake.template_version)
        if template is None:
            raise NotFound()
        return template

    # ---- staff actions ------------------------------------------------------------------

    def review(
        self, intake_id: str, version: int, decision: str, step: Step | None, comment: str | None
    ) -> Intake:
        ctx = self.ctx
        access, intake = self.load("intake.review", intake_id)
        self._check(intake, version)
        review = intake.state(Step.REVIEW)
        if (
            intake.status != IntakeStatus.IN_REVIEW
            or review is None
            or review.status != StepStatus.OPEN
        ):
            raise IntakeStepNotOpen()
        now = ctx.now()
        if decision == "approve":
            changed = intake.bump(
                now,
                steps=intake.with_step(Step.REVIEW, StepStatus.DONE, now),
                reviewer_id=ctx.principal.user_id,
                review_comment=None,
                status=IntakeStatus.IN_PROGRESS,
            )
            reason = "approved"
        else:
            if step is None or step not in REOPENABLE or intake.state(step) is None:
                raise ValidationFailed(fields=[{"path": "body.step", "type": "not_reopenable"}])
            if not comment:
                raise ValidationFailed(fields=[{"path": "body.comment", "type": "missing"}])
            steps = intake.with_step(step, StepStatus.CHANGES_REQUESTED, now)
            changed = intake.bump(
                now,
                steps=tuple(
                    s.model_copy(update={"status": StepStatus.PENDING, "opened_at": None})
                    if s.step == Step.REVIEW
                    else s
                    for s in steps
                ),
                reviewer_id=ctx.principal.user_id,
                review_comment=comment,
                status=IntakeStatus.CHANGES_REQUESTED,
                current_step=step,
            )
            reason = "changes_requested"
        self._commit(access, intake, changed, reason)
        answer(ctx, intake.id, Step.REVIEW.value, {"decision": decision})
        return changed

    def resend_invitation(self, intake_id: str) -> Intake:
        access, intake = self.load("intake.manage", intake_id)
        if intake.status not in OPEN_STATUSES:
            raise IntakeClosed()
        self.ctx.record(access, KIND, intake.id, patient_id=intake.patient_id, reason_code="resend")
        self._invite(intake)
        if intake.status == IntakeStatus.STALLED:
            return self._resume(access, intake)
        return intake

    def _resume(self, access: Access, intake: Intake) -> Intake:
        ctx = self.ctx
        status = (
            IntakeStatus.INVITED
            if intake.identity_verified_at is None
            else IntakeStatus.IN_PROGRESS
        )
        changed = intake.bump(ctx.now(), status=status, stalled_at=None, reminders_sent=0)
        self._commit(access, intake, changed, "resumed", self._unlock(intake))
        answer(ctx, intake.id, "staff", {"action": "resume"})
        return changed

    def cancel(self, intake_id: str, version: int) -> Intake:
        ctx = self.ctx
        access, intake = self.load("intake.manage", intake_id)
        self._check(intake, version)
        if intake.status not in OPEN_STATUSES:
            raise IntakeClosed()
        changed = intake.bump(ctx.now(), status=IntakeStatus.CANCELLED, current_step=None)
        self._commit(access, intake, changed, "cancelled")
        if intake.execution_id:
            ctx.runtime.workflows.stop(ctx.practice_id, intake.execution_id, "Cancelled", "")
        return changed

    def restart(self, intake_id: str, version: int) -> Intake:
        """A new run of the workflow from the start; steps already done stay done (their
        waits answer at once), so this is also the repair for a lost answer."""
        ctx = self.ctx
        access, intake = self.load("intake.manage", intake_id)
        self._check(intake, version)
        if intake.status == IntakeStatus.COMPLETED:
            raise IntakeClosed()
        if intake.execution_id:
            ctx.runtime.workflows.stop(ctx.practice_id, intake.execution_id, "Restarted", "")
        status = (
            IntakeStatus.INVITED
            if intake.identity_verified_at is None
            else IntakeStatus.IN_PROGRESS
        )
        changed = intake.bump(
            ctx.now(),
            status=status,
            run=intake.run + 1,
            stalled_at=None,
            reminders_sent=0,
            execution_id=None,
        )
        self._commit(access, intake, changed, "restarted", self._unlock(intake))
        return self._run(changed, self.template_of(changed))

    def first_visit(
        self,
        intake_id: str,
        version: int,
        appointment_id: str | None,
        booking: tuple[str, str, str, datetime, str | None] | None,
    ) -> tuple[Appointment, Intake]:
        """Staff book the first visit (`booking`: clinician, service, location, start and
        an override reason outside the clinician's availability) or
        link one already booked (`appointment_id`) while the appointment step is open —
        also from the staff queue when the patient stalled there."""
        from tpm.services.intake_appointment import FirstVisit  # it builds on this module

        access, intake = self.load("intake.manage", intake_id)
        self._check(intake, version)
        state = intake.state(Step.APPOINTMENT)
        if (
            intake.status not in (IntakeStatus.SCHEDULING, IntakeStatus.STALLED)
            or state is None
            or state.status != StepStatus.OPEN
        ):
            raise IntakeStepNotOpen()
        visits = FirstVisit(self.ctx)
        if booking is not None:
            return visits.book_by_staff(intake, access.break_glass, *booking)
        assert appointment_id is not None
        return visits.link_by_staff(intake, access.break_glass, appointment_id)

    # ---- form responses: history, diff, staff amendment ------------------------------------

    def _form_item(self, intake: Intake, key: str) -> FormItem:
        item = self.template_of(intake).form(key)
        if item is None or not isinstance(item, FormItem):
            raise NotFound()
        return item

    def form_versions(self, intake_id: str, key: str) -> list[dict[str, Any]]:
        access, intake = self.load("intake.form.read", intake_id)
        self._form_item(intake, key)
        out = [
            {
                "n": v.n,
                "event": v.event.value,
                "at": at,
                "by": v.by,
                "content_hash": v.content_hash,
                "chain_hash": v.chain_hash,
            }
            for at, v in self.intakes.form_versions(intake.id, key)
            if v is not None
        ]
        self.ctx.record(
            access, KIND, intake.id, patient_id=intake.patient_id, reason_code="form_history"
        )
        return out

    def form_diff(self, intake_id: str, key: str, start: int, end: int) -> list[Change]:
        access, intake = self.load("intake.form.read", intake_id)
        self._form_item(intake, key)
        by_n = {v.n: v for _, v in self.intakes.form_versions(intake.id, key) if v is not None}
        missing = [
            {"path": f"query.{name}", "type": "no_such_version"}
            for name, n in (("from", start), ("to", end))
            if n not in by_n
        ]
        if missing:
            raise ValidationFailed(fields=missing)
        self.ctx.record(
            access, KIND, intake.id, patient_id=intake.patient_id, reason_code="form_diff"
        )
        return diff(by_n[start].content, by_n[end].content)

    def amend_form(
        self, intake_id: str, key: str, content: dict[str, Any], version: int
    ) -> FormResponse:
        """Staff change a submitted form: a new version (event amended) by the staff member."""
        access, intake = self.load("intake.form.amend", intake_id)
        item = self._form_item(intake, key)
        current = self.intakes.form(intake.id, key)
        if current is None or current.status.value != "submitted":
            raise IntakeStepNotOpen("Only a submitted form is amended.")
        if current.version != version:
            raise VersionConflict(current_version=current.version)
        template = TemplateCatalog(self.ctx.store).resolve(item.template_id, item.template_version)
        form, ver = save_form(
            self.ctx,
            self.intakes,
            current,
            intake_id=intake.id,
            key=key,
            patient_id=intake.patient_id,
            template=template,
            content=content,
            submit=True,
        )
        try:
            self.ctx.write(
                access,
                lambda: self.intakes.form_ops(form, ver),
                KIND,
                intake.id,
                patient_id=intake.patient_id,
                reason_code="form_amended",
            )
        except ConditionFailed as exc:
            raise VersionConflict() from exc
        return form

    # ---- helpers --------------------------------------------------------------------------

    def _unlock(self, intake: Intake) -> list[Operation]:
        """Staff help a patient whose identity check locked: a fresh set of attempts."""
        v = self.intakes.verification(intake.id)
        if v is None or v.locked_at is None:
            return []
        fresh = v.model_copy(
            update={
                "dob_attempts": 0,
                "code_attempts": 0,
                "code_hash": None,
                "locked_at": None,
                "version": v.version + 1,
            }
        )
        return [self.intakes.verification_op(fresh)]

    @staticmethod
    def _check(intake: Intake, version: int) -> None:
        if intake.version != version:
            raise VersionConflict(current_version=intake.version)

    def _commit(
        self,
        access: Access,
        intake: Intake,
        changed: Intake,
        reason: str,
        extra: list[Operation] | None = None,
    ) -> None:
        ops = [self.intakes.put_op(changed), *(extra or [])]
        try:
            self.ctx.write(
                access,
                lambda: list(ops),
                KIND,
                intake.id,
                patient_id=intake.patient_id,
                reason_code=reason,
            )
        except ConditionFailed as exc:
            current = self.intakes.get(intake.id)
            raise VersionConflict(current_version=current.version if current else None) from exc
