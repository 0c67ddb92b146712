"""Stored shape of appointments, their slot locks and recurring series.

APPOINTMENT#<id>  APPOINTMENT      the appointment (gsi1: CLINICIAN_APPTS#<cid> / <start>#<id>)
APPOINTMENT#<id>  PATIENT#<pid>    one copy per patient, for the patient's list
                                   (gsi2: PATIENT_APPTS#<pid> / <start>#<id>)
SLOT#CLN#<cid>    <block start>    the clinician holds this 15-minute block
SLOT#LOC#<lid>    <block start>    the office room holds this block (no locks for telehealth)
SERIES#<sid>      SERIES           a recurring series

No double booking: every block an appointment covers is Put with Absent() in the same
transaction as the appointment (and its audit event), so of two bookings that share a
block exactly one commits. Cancelling deletes the locks in the cancelling transaction.
`cancelled_reason` and `override_reason` (why a visit was booked outside the clinician's
availability) are sealed: free text that may describe the patient's situation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tpm.adapters.store.base import (
    Absent,
    Delete,
    Item,
    Operation,
    PracticeStore,
    Put,
    VersionIs,
    iterate,
)
from tpm.clock import to_rfc3339
from tpm.domain.scheduling import Appointment, slot_starts
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

KIND = "appointment"
SEALED = ("cancelled_reason", "override_reason")
_MAIN = "APPOINTMENT"


class Series(BaseModel):
    """A recurring series: how its occurrences were generated, and which they are."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    rrule: str
    start_local: datetime  # naive wall-clock time in `timezone`
    timezone: str
    clinician_id: str
    patient_ids: tuple[str, ...]
    service_id: str
    location_id: str
    appointment_ids: tuple[str, ...] = Field(max_length=52)
    ended_at_index: int | None = None  # set when "this and following" split it
    followed_by: str | None = None
    created_by: str
    version: int = 1


def order_key(appt: Appointment) -> str:
    return f"{to_rfc3339(appt.start)}#{appt.id}"


class AppointmentRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    # ---- reads ------------------------------------------------------------------------

    def get(self, apt_id: str) -> Appointment | None:
        item = self.store.get(f"APPOINTMENT#{apt_id}", _MAIN)
        return None if item is None else self.from_item(item)

    def for_clinician(
        self, clinician_id: str, start: datetime, end: datetime, limit: int, cursor: str | None
    ) -> tuple[list[Appointment], str | None]:
        return self._range("gsi1", f"CLINICIAN_APPTS#{clinician_id}", start, end, limit, cursor)

    def for_patient(
        self, patient_id: str, start: datetime, end: datetime, limit: int, cursor: str | None
    ) -> tuple[list[Appointment], str | None]:
        return self._range("gsi2", f"PATIENT_APPTS#{patient_id}", start, end, limit, cursor)

    def _range(
        self,
        index: Any,
        pk: str,
        start: datetime,
        end: datetime,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Appointment], str | None]:
        low, high = to_rfc3339(start), to_rfc3339(end)
        if low >= high:
            return [], None
        page = self.store.query(pk, index=index, sk_between=(low, high), limit=limit, cursor=cursor)
        return [self.from_item(i) for i in page.items], page.next_cursor

    def busy_blocks(self, resource: str, start: datetime, end: datetime) -> set[datetime]:
        """Locked 15-minute blocks of `resource` ("CLN#<id>" / "LOC#<id>") in [start, end)."""
        found = set()
        for item in iterate(
            self.store, f"SLOT#{resource}", sk_between=(to_rfc3339(start), to_rfc3339(end))
        ):
            found.add(datetime.fromisoformat(str(item["sk"]).replace("Z", "+00:00")))
        return found

    # ---- writes -------------------------------------------------------------------------

    def create_ops(self, appt: Appointment) -> list[Operation]:
        """The appointment, its patient copies and every lock it holds, all Absent()."""
        return [
            Put(self.to_item(appt), Absent()),
            *self._copies(appt, Absent()),
            *self.lock_ops(appt),
        ]

    def update_ops(self, before: Appointment, after: Appointment) -> list[Operation]:
        """`after` carries version n+1. Locks follow the change: a cancelled appointment
        gives its blocks back; a moved one takes the new blocks (Absent) and frees the old
        ones it no longer covers."""
        ops: list[Operation] = [
            Put(self.to_item(after), VersionIs(before.version)),
            *self._copies(after, None),
        ]
        old = set(self._lock_keys(before)) if before.active else set()
        new = set(self._lock_keys(after)) if after.active else set()
        ops += [Delete(pk, sk) for pk, sk in sorted(old - new)]
        ops += [self._lock(pk, sk, after.id) for pk, sk in sorted(new - old)]
        return ops

    def delete_ops(self, appt: Appointment) -> list[Operation]:
        """Removes a booking that never stood (a series rolled back after a conflict)."""
        ops: list[Operation] = [Delete(f"APPOINTMENT#{appt.id}", _MAIN)]
        ops += [Delete(f"APPOINTMENT#{appt.id}", f"PATIENT#{pid}") for pid in appt.patient_ids]
        if appt.active:
            ops += [Delete(pk, sk) for pk, sk in self._lock_keys(appt)]
        return ops

    def lock_ops(self, appt: Appointment) -> list[Put]:
        return [self._lock(pk, sk, appt.id) for pk, sk in self._lock_keys(appt)]

    @staticmethod
    def _lock(pk: str, sk: str, apt_id: str) -> Put:
        return Put({"pk": pk, "sk": sk, "appointment_id": apt_id}, Absent())

    @staticmethod
    def _lock_keys(appt: Appointment) -> list[tuple[str, str]]:
        resources = [f"SLOT#CLN#{appt.clinician_id}"]
        if appt.holds_room:
            resources.append(f"SLOT#LOC#{appt.location_id}")
        blocks = [to_rfc3339(b) for b in slot_starts(appt.start, appt.end)]
        return [(pk, sk) for pk in resources for sk in blocks]

    def _copies(self, appt: Appointment, condition: Absent | None) -> Iterable[Put]:
        base = self.to_item(appt)
        for pid in appt.patient_ids:
            copy = {k: v for k, v in base.items() if not k.startswith("gsi1")}
            copy |= {
                "sk": f"PATIENT#{pid}",
                "gsi2pk": f"PATIENT_APPTS#{pid}",
                "gsi2sk": order_key(appt),
            }
            yield Put(copy, condition)

    # ---- series ---------------------------------------------------------------------------

    def series(self, series_id: str) -> Series | None:
        item = self.store.get(f"SERIES#{series_id}", "SERIES")
        if item is None:
            return None
        return Series.model_validate({k: v for k, v in item.items() if k in Series.model_fields})

    def series_op(self, series: Series) -> Put:
        condition = Absent() if series.version == 1 else VersionIs(series.version - 1)
        item = {"pk": f"SERIES#{series.id}", "sk": "SERIES", **series.model_dump(mode="json")}
        return Put(item, condition)

    @staticmethod
    def series_delete_op(series_id: str) -> Delete:
        return Delete(f"SERIES#{series_id}", "SERIES")

    # ---- mapping --------------------------------------------------------------------------

    def to_item(self, appt: Appointment) -> Item:
        data = appt.model_dump(mode="json")
        data["patient_ids"] = list(appt.patient_ids)
        sealer = Sealer(self.cipher, self.store.practice_id, KIND, appt.id)
        for name in SEALED:
            data[name] = sealer.seal(name, getattr(appt, name))
        return {
            "pk": f"APPOINTMENT#{appt.id}",
            "sk": _MAIN,
            "gsi1pk": f"CLINICIAN_APPTS#{appt.clinician_id}",
            "gsi1sk": order_key(appt),
            **data,
        }

    def from_item(self, item: Item) -> Appointment:
        fields = {k: v for k, v in item.items() if k in Appointment.model_fields}
        sealer = Sealer(self.cipher, self.store.practice_id, KIND, str(item["id"]))
        for name in SEALED:
            fields[name] = sealer.open(name, item.get(name))
        return Appointment.model_validate(fields)


def merge_lock_ops(ops: list[Operation]) -> list[Operation]:
    """One transaction that frees a block for one appointment and takes it for another
    (a series split moving 09:00 to 09:30) may touch each item only once: the Delete is
    dropped and the Put overwrites the lock the transaction already holds."""
    deleted = {(op.pk, op.sk) for op in ops if isinstance(op, Delete) and op.pk.startswith("SLOT#")}
    taken = {
        (op.item["pk"], op.item["sk"])
        for op in ops
        if isinstance(op, Put) and str(op.item["pk"]).startswith("SLOT#")
    }
    both = deleted & taken
    merged: list[Operation] = []
    for op in ops:
        if isinstance(op, Delete) and (op.pk, op.sk) in both:
            continue
        if isinstance(op, Put) and (op.item["pk"], op.item["sk"]) in both:
            op = Put(op.item)
        merged.append(op)
    return merged
