"""The intake workflow's own actions (functions/intake_tasks; statemachines/intake.asl.json),
taken as the system actor `workflow-intake` and audited like any other change.

Each is safe to run twice (Step Functions and the local runner deliver a task at least
once): `next_step` and `wait` act on the intake's state, `remind` writes a marker keyed by
the task's entry (`TaskEvent.key`) in the same transaction as the reminder's outbox row.
"""

from __future__ import annotations

import contextlib
import json
from functools import cached_property
from typing import Any

from tpm.adapters.store.base import ConditionFailed, Operation, PracticeStore
from tpm.adapters.workflows import TaskGone
from tpm.adapters.workflows.tasks import TaskEvent
from tpm.domain.intake import (
    PATIENT_STEPS,
    Intake,
    IntakeStatus,
    IntakeTemplate,
    Step,
    StepStatus,
    part2_applies,
)
from tpm.errors import NotFound
from tpm.repositories.intake import IntakeRepository
from tpm.repositories.part2 import Part2Repository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import SystemActor
from tpm.services.agreements import AgreementGuard
from tpm.services.intake_messages import (
    REMINDER_BODY,
    REMINDER_SMS,
    REMINDER_SUBJECT,
    STAFF_BODY,
    STAFF_SUBJECT,
    fill,
    first_name,
    send,
)
from tpm.services.practices import get_practice

ACTOR = "workflow-intake"
KIND = "intake"
_ATTEMPTS = 5


class IntakeWorkflow:
    def __init__(self, runtime: Runtime, event: TaskEvent) -> None:
        self.runtime = runtime
        self.event = event
        self.store: PracticeStore = runtime.store.practice(event.practice_id)
        self.intakes = IntakeRepository(self.store, runtime.cipher)
        self.intake_id = str(event.input.get("intake_id", ""))
        self.run = int(event.input.get("run", 1))

    def _load(self) -> tuple[Intake, IntakeTemplate]:
        intake = self.intakes.get(self.intake_id)
        if intake is None:
            raise NotFound()
        template = self.intakes.template(intake.template_id, intake.template_version)
        if template is None:
            raise NotFound()
        return intake, template

    @cached_property
    def guard(self) -> AgreementGuard:
        actor = SystemActor(ACTOR, self.event.practice_id, self.event.key)
        return AgreementGuard(self.runtime, self.store, actor)

    def _audit(self, action: str, intake: Intake, reason: str | None = None) -> AuditEvent:
        actor = SystemActor(ACTOR, self.event.practice_id, self.event.key)
        return AuditEvent.for_system(
            actor,
            action=action,
            resource_kind=KIND,
            resource_id=intake.id,
            patient_id=intake.patient_id,
            reason_code=reason,
        )

    def _write(self, action: str, intake: Intake, ops: list[Operation], reason: str | None) -> None:
        self.runtime.audit.write_with_audit(
            self.store, lambda: list(ops), self._audit(action, intake, reason)
        )

    def _stale(self, intake: Intake) -> bool:
        """A task of an older run (restarted since) or of a closed intake does nothing."""
        return intake.run != self.run or intake.status in (
            IntakeStatus.CANCELLED,
            IntakeStatus.COMPLETED,
        )

    # ---- tasks ----------------------------------------------------------------------------

    def next_step(self) -> dict[str, Any]:
        """Open the first step not done; {"kind": patient|review|done, "step": ...}."""
        for _ in range(_ATTEMPTS + 1):
            intake, template = self._load()
            if self._stale(intake):
                return {"kind": "done", "step": "none"}
            pending = next((s for s in intake.steps if s.status != StepStatus.DONE), None)
            if pending is None:
                return {"kind": "done", "step": "none"}
            step = pending.step
            if (
                step == Step.CONSENTS
                and pending.status == StepStatus.PENDING
                and self._nothing_to_sign(intake, template)
            ):
                # Only a Part 2 consent, for a patient whose records are not Part 2.
                now = self.runtime.clock.now()
                done = intake.bump(now, steps=intake.with_step(step, StepStatus.DONE, now))
                with contextlib.suppress(ConditionFailed):
                    self._write("intake.step.skip", intake, [self.intakes.put_op(done)], "consents")
                continue
            kind = "review" if step == Step.REVIEW else "patient"
            if step in PATIENT_STEPS:
                status = (
                    IntakeStatus.INVITED
                    if intake.identity_verified_at is None
                    else IntakeStatus.CHANGES_REQUESTED
                    if pending.status == StepStatus.CHANGES_REQUESTED
                    else IntakeStatus.IN_PROGRESS
                )
            elif step == Step.REVIEW:
                status = IntakeStatus.IN_REVIEW
            else:
                status = IntakeStatus.SCHEDULING
            already = pending.status in (StepStatus.OPEN, StepStatus.CHANGES_REQUESTED)
            if already and intake.current_step == step and intake.status == status:
                return {"kind": kind, "step": step.value}
            now = self.runtime.clock.now()
            steps = intake.steps if already else intake.with_step(step, StepStatus.OPEN, now)
            if intake.status == IntakeStatus.STALLED:
                status = IntakeStatus.STALLED
            changed = intake.bump(now, steps=steps, status=status, current_step=step)
            try:
                self._write("intake.step.open", intake, [self.intakes.put_op(changed)], step.value)
            except ConditionFailed:
                continue
            if step == Step.REVIEW:
                self._tell_reviewers(changed)
            return {"kind": kind, "step": step.value}
        raise ConditionFailed()

    def _nothing_to_sign(self, intake: Intake, template: IntakeTemplate) -> bool:
        if template.consents:
            return False
        label = Part2Repository(self.store, self.runtime.cipher).label(intake.patient_id)
        return not part2_applies(template, label is not None and label.part2)

    def wait(self, step: str) -> dict[str, Any]:
        """Keep the token where the person's action will find it; answer at once if the
        step is already done (a restart, or an answer lost between commit and callback)."""
        if self.event.token is None:
            raise NotFound()
        intake, _ = self._load()
        self.store.transact(
            [
                self.intakes.token_op(
                    intake.id, step, self.event.token, self.run, self.runtime.clock.now()
                )
            ]
        )
        done = (
            self._stale(intake)
            or (step == "staff" and intake.status != IntakeStatus.STALLED)
            or (step not in ("staff",) and _step_done(intake, step))
        )
        if done:
            with contextlib.suppress(TaskGone):
                self.runtime.workflows.send_task_success(
                    self.event.token, {"step": step, "already": True}
                )
        return {}

    def remind(self, step: str) -> dict[str, Any]:
        """A step timed out: remind the patient (no PHI), or after the template's number of
        reminders, move the intake to the staff queue (stalled)."""
        marker = f"remind-{self.event.key}"
        existing = self.intakes.done(self.intake_id, marker)
        if existing is not None:
            return dict(json.loads(str(existing["result"])))
        intake, template = self._load()
        if self._stale(intake):
            return {"stalled": False}
        now = self.runtime.clock.now()
        if intake.status == IntakeStatus.STALLED:  # e.g. identity verification locked
            return {"stalled": True}
        if intake.reminders_sent >= template.reminders_before_stall:
            changed = intake.bump(now, status=IntakeStatus.STALLED, stalled_at=now)
            result = {"stalled": True}
            ops: list[Operation] = [self.intakes.put_op(changed)]
            action, reason = "intake.stall", step
        else:
            result = {"stalled": False}
            changed = intake.bump(now, reminders_sent=intake.reminders_sent + 1)
            ops = [self.intakes.put_op(changed)]
            message = self._reminder(intake)
            if message is not None:
                ops.append(message)
            action, reason = "intake.remind", step if message is not None else "no_channel"
        ops.append(self.intakes.done_op(self.intake_id, marker, result))
        self._write(action, intake, ops, reason)
        return result

    def _reminder(self, intake: Intake) -> Operation | None:
        patient = PatientRepository(self.store, self.runtime.cipher).get(intake.patient_id)
        if patient is None:
            return None
        practice = get_practice(self.runtime.store, self.event.practice_id)
        values = {
            "practice_name": practice.name,
            "first_name": first_name(patient),
            "portal_link": self.runtime.settings.portal_url,
        }
        c = patient.communication
        # The patient's reminder choices decide; with none made yet, the address the
        # invitation went to. Never a channel the patient opted out of.
        if c.allows("sms") and patient.phone:
            channel, subject, text = "sms", None, fill(REMINDER_SMS, **values)
        elif patient.email and c.email_opted_out_at is None:
            channel, subject, text = (
                "email",
                fill(REMINDER_SUBJECT, **values),
                fill(REMINDER_BODY, **values),
            )
        else:
            return None
        return send(
            self.runtime,
            self.store,
            patient,
            channel=channel,
            subject=subject,
            text=text,
            intake_id=intake.id,
            guard=self.guard,
        )

    def _tell_reviewers(self, intake: Intake) -> None:
        users = UserRepository(self.store, self.runtime.cipher)
        practice = get_practice(self.runtime.store, self.event.practice_id)
        text = fill(
            STAFF_BODY, practice_name=practice.name, portal_link=self.runtime.settings.portal_url
        )
        from tpm.repositories.relationships import StoreRelationships

        for user_id in StoreRelationships(self.store).care_team(intake.patient_id):
            user = users.get(user_id)
            if user is not None and user.email:
                self.runtime.notifier.send_email(
                    user.email, STAFF_SUBJECT, text, guard=self.guard, carries_phi=False
                )

    def finish(self, outcome: str) -> dict[str, Any]:
        """completed (every step done), abandoned (stalled and never resumed) or failed."""
        for _ in range(_ATTEMPTS):
            intake, _ = self._load()
            if self._stale(intake):
                return {"status": intake.status.value}
            now = self.runtime.clock.now()
            if outcome == "completed":
                changed = intake.bump(now, status=IntakeStatus.COMPLETED, current_step=None)
            elif outcome == "abandoned":
                changed = intake.bump(now, status=IntakeStatus.CANCELLED, current_step=None)
            else:
                changed = intake.bump(now, status=IntakeStatus.STALLED, stalled_at=now)
            try:
                self._write(f"intake.{outcome}", intake, [self.intakes.put_op(changed)], None)
            except ConditionFailed:
                continue
            return {"status": changed.status.value}
        raise ConditionFailed()


def _step_done(intake: Intake, step: str) -> bool:
    state = next((s for s in intake.steps if s.step.value == step), None)
    return state is None or state.status == StepStatus.DONE
