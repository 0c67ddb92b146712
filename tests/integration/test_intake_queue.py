"""The staff intake queue, role by role: the office sees every open intake (stalled first);
a clinician only their care team's; a supervisor their own care team's and their
supervisees' (the permission table's `supervisees` scope) — and a filtered page is full
even when most of the queue belongs to others."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from intake_world import owner_context
from support.demo_practice import DemoPractice, demo_practice

from tpm.domain.intake import Intake, IntakeStatus, IntakeTemplate, new_steps
from tpm.domain.patients import Patient
from tpm.ids import new_id
from tpm.repositories.intake import IntakeRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.relationships import StoreRelationships
from tpm.repositories.users import UserRepository
from tpm.security.principal import Principal, Role
from tpm.services.context import ServiceContext
from tpm.services.intake import IntakeService

NOW = datetime(2030, 3, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
def demo(tmp_path: Path, project_root: Path) -> Iterator[DemoPractice]:
    with demo_practice(tmp_path, project_root, NOW, "Queue practice") as demo:
        yield demo


def as_role(demo: DemoPractice, role: Role) -> ServiceContext:
    from support.demo_practice import ACCOUNTS

    store = demo.runtime.store.practice(demo.practice_id)
    user = UserRepository(store, demo.runtime.cipher).find_by_email(ACCOUNTS[role].email)
    assert user is not None
    principal = Principal(
        user_id=user.id,
        practice_id=demo.practice_id,
        roles=frozenset({role}),
        session_id="test",
        auth_time=demo.clock.now(),
        mfa_authenticated=True,
    )
    return ServiceContext(demo.runtime, principal)


def seed(demo: DemoPractice, template: IntakeTemplate, team: list[str], *, stalled: bool) -> str:
    """A patient on `team`'s care team with an open intake; returns the intake id."""
    store = demo.runtime.store.practice(demo.practice_id)
    now = demo.clock.now()
    pid = new_id("pat")
    patient = Patient(
        id=pid,
        legal_first_name="Queue",
        legal_last_name="Person",
        date_of_birth=date(1980, 2, 2),
        created_at=now,
        created_by="test",
    )
    intake = Intake(
        id=new_id("int"),
        patient_id=pid,
        template_id=template.id,
        template_version=template.version,
        status=IntakeStatus.STALLED if stalled else IntakeStatus.IN_PROGRESS,
        steps=new_steps(template),
        started_by="test",
        created_at=now,
        updated_at=now,
    )
    ops = [PatientRepository(store, demo.runtime.cipher).create_op(patient)]
    ops += [StoreRelationships.add_member_op(pid, uid, now) for uid in team]
    ops.append(IntakeRepository(store, demo.runtime.cipher).put_op(intake))
    store.transact(ops)
    demo.clock.advance(minutes=1)
    return intake.id


def test_each_role_sees_its_slice_of_the_queue(demo: DemoPractice) -> None:
    from tpm.services.intake_templates import IntakeTemplateService

    template = IntakeTemplateService(owner_context(demo)).save(None, 0, {"name": "Queue"})
    clinician = as_role(demo, Role.CLINICIAN).principal.user_id
    supervisor = as_role(demo, Role.SUPERVISOR).principal.user_id
    others = [seed(demo, template, [], stalled=False) for _ in range(30)]
    supervisees = seed(demo, template, [clinician], stalled=False)  # the demo clinician
    own = seed(demo, template, [supervisor], stalled=True)
    demo.clock.advance(minutes=1)

    def queue(role: Role, limit: int = 25) -> list[str]:
        ids: list[str] = []
        cursor = None
        while True:
            found, cursor = IntakeService(as_role(demo, role)).queue(limit, cursor)
            assert len(found) <= limit
            ids += [i.id for i in found]
            if cursor is None:
                return ids

    office = queue(Role.FRONT_DESK, limit=10)
    assert office[0] == own  # stalled first
    assert set(office) == {*others, supervisees, own}
    assert len(office) == len(set(office))  # nothing repeated across pages
    assert queue(Role.CLINICIAN) == [supervisees]
    # The supervisor: their own care team's (stalled, first) and their supervisee's.
    assert queue(Role.SUPERVISOR) == [own, supervisees]
    # One page of two is full although 30 rows of others come between them.
    found, _ = IntakeService(as_role(demo, Role.SUPERVISOR)).queue(2, None)
    assert [i.id for i in found] == [own, supervisees]
    # The supervisor may read (not review) the supervisee's patient's intake.
    detail = IntakeService(as_role(demo, Role.SUPERVISOR)).detail(supervisees)
    assert detail.content_visible is True
