"""Stored shape of charge-capture events (billing facts only; nothing here is sealed
because nothing here is clinical content: ids, CPT codes, minutes, dates, POS).

CHARGE#<id>   CHARGE   one event (gsi1: CHARGES#<status> / <service date>#<id>,
                       gsi2: PATIENT_CHARGES#<patient id> / <id>)
"""

from __future__ import annotations

from typing import Any

from tpm.adapters.store.base import Absent, Item, PracticeStore, Put, VersionIs
from tpm.domain.notes import ChargeEvent

_LAYOUT = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"})


class ChargeRepository:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    def get(self, charge_id: str) -> ChargeEvent | None:
        item = self.store.get(f"CHARGE#{charge_id}", "CHARGE")
        return None if item is None else from_item(item)

    def with_status(
        self, status: str, limit: int, cursor: str | None
    ) -> tuple[list[ChargeEvent], str | None]:
        """Oldest service date first: the order billing works through them."""
        page = self.store.query(f"CHARGES#{status}", index="gsi1", limit=limit, cursor=cursor)
        return [from_item(i) for i in page.items], page.next_cursor

    def for_patient(
        self, patient_id: str, limit: int, cursor: str | None
    ) -> tuple[list[ChargeEvent], str | None]:
        page = self.store.query(
            f"PATIENT_CHARGES#{patient_id}", index="gsi2", limit=limit, cursor=cursor
        )
        return [from_item(i) for i in page.items], page.next_cursor

    @staticmethod
    def create_op(charge: ChargeEvent) -> Put:
        return Put(to_item(charge), Absent())

    @staticmethod
    def update_op(charge: ChargeEvent) -> Put:
        """`charge` carries the next version (billing moves it to claimed or void)."""
        return Put(to_item(charge), VersionIs(charge.version - 1))


def to_item(charge: ChargeEvent) -> Item:
    data: dict[str, Any] = charge.model_dump(mode="json")
    return {
        "pk": f"CHARGE#{charge.id}",
        "sk": "CHARGE",
        "gsi1pk": f"CHARGES#{charge.status}",
        "gsi1sk": f"{charge.service_date.isoformat()}#{charge.id}",
        "gsi2pk": f"PATIENT_CHARGES#{charge.patient_id}",
        "gsi2sk": charge.id,
        **data,
    }


def from_item(item: Item) -> ChargeEvent:
    return ChargeEvent.model_validate({k: v for k, v in item.items() if k not in _LAYOUT})
