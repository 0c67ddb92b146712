"""Slot locks on every store adapter (SQLite and moto DynamoDB): a booking's locks are
written with Absent() in the same transaction as the appointment and its audit event, so a
second booking of an overlapping block fails as a whole; a cancellation frees them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tpm.adapters.keys.local import LocalMasterKey
from tpm.adapters.store.base import ConditionFailed, Store
from tpm.clock import FixedClock
from tpm.domain.scheduling import Appointment, AppointmentStatus, LocationKind
from tpm.repositories.appointments import AppointmentRepository
from tpm.security.audit import AuditTrail, read_head
from tpm.security.audit_chain import AuditEvent
from tpm.security.audit_checkpoints import LocalCheckpointSigner, LocalCheckpointSink
from tpm.security.envelope import FieldCipher
from tpm.security.principal import SystemActor

PRACTICE = "prx_01aaaaaaaaaaaaaaaaaaaaaaaa"
T0 = datetime(2030, 2, 4, 15, 0, tzinfo=UTC)


def appointment(
    n: int, start: datetime, clinician: str = "usr_c", location: str = "loc_1"
) -> Appointment:
    return Appointment(
        id=f"apt_{n:026d}",
        patient_ids=(f"pat_{n:026d}",),
        clinician_id=clinician,
        location_id=location,
        location_kind=LocationKind.OFFICE,
        service_id="svc_1",
        start=start,
        end=start + timedelta(minutes=50),
        created_by="usr_d",
        created_at=T0 - timedelta(days=1),
    )


@pytest.mark.contract
def test_locks_refuse_an_overlap_and_cancel_frees_them(
    store: Store, clock: FixedClock, tmp_path: Path
) -> None:
    practice = store.practice(PRACTICE)
    repo = AppointmentRepository(
        practice, FieldCipher(LocalMasterKey(tmp_path / "keys"), store, clock)
    )
    audit = AuditTrail(
        LocalCheckpointSigner(tmp_path / "signing"),
        LocalCheckpointSink(tmp_path / "sink"),
        clock=clock,
    )
    event = AuditEvent.for_system(
        SystemActor("contract", PRACTICE), action="appointment.book", resource_kind="appointment"
    )
    first = appointment(1, T0)
    audit.write_with_audit(practice, lambda: repo.create_ops(first), event)
    # GIVEN a 15:00-15:50 booking, WHEN another starts at 15:30 (same clinician, other room)
    clash = appointment(2, T0 + timedelta(minutes=30), location="loc_2")
    store.calls.reset()
    with pytest.raises(ConditionFailed) as caught:
        audit.write_with_audit(practice, lambda: repo.create_ops(clash), event)
    # THEN the failing op is a lock, and nothing of the second booking (nor an event) exists
    failed = repo.create_ops(clash)[caught.value.index]
    assert failed.item["pk"].startswith("SLOT#")  # type: ignore[union-attr]
    assert repo.get(clash.id) is None
    head = read_head(practice)
    assert head is not None
    assert head.seq == 1
    assert store.calls.counts["transact"] == 1
    # WHEN the first is cancelled THEN its blocks are free again, in the same transaction
    cancelled = first.bump(status=AppointmentStatus.CANCELLED, cancelled_at=T0)
    audit.write_with_audit(practice, lambda: repo.update_ops(first, cancelled), event)
    assert repo.busy_blocks("CLN#usr_c", T0, T0 + timedelta(hours=2)) == set()
    audit.write_with_audit(practice, lambda: repo.create_ops(clash), event)
    assert repo.busy_blocks("CLN#usr_c", T0, T0 + timedelta(hours=2)) == {
        T0 + timedelta(minutes=m) for m in (30, 45, 60, 75)
    }
    # a stale update (version 1 again) is refused on the appointment itself
    with pytest.raises(ConditionFailed):
        audit.write_with_audit(practice, lambda: repo.update_ops(first, cancelled), event)
