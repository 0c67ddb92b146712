"""Stored shape of the waitlist, slot offers and prospective patients' appointment requests.

WAITLIST          <entry id>     a waiting patient (gsi1: WAITLIST_PATIENT#<pid> / <entry id>)
WAITLIST_OFFER#<id> OFFER      an offer of a freed slot to one waiting patient
                               (gsi1: WAITLIST_OFFERS / <slot start UTC>#<offer id>)
APPT_REQUESTS     <request id>   a request from the public form; contact fields sealed
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tpm.adapters.store.base import Absent, Item, PracticeStore, Put, VersionIs, iterate
from tpm.domain.scheduling import LocationKind
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

_WAITLIST = "WAITLIST"
_REQUESTS = "APPT_REQUESTS"
_OFFERS = "WAITLIST_OFFERS"
REQUEST_KIND = "appointment-request"
REQUEST_SEALED = ("name", "email", "phone", "preferred_times", "note")


class TimeWindow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: datetime
    end: datetime


class WaitlistEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    patient_id: str
    clinician_id: str | None = None
    service_id: str | None = None
    windows: tuple[TimeWindow, ...] = Field(min_length=1, max_length=10)
    status: str = "waiting"  # waiting | booked | removed
    created_at: datetime
    created_by: str
    version: int = 1


class Offer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    entry_id: str
    patient_id: str
    clinician_id: str
    service_id: str
    location_id: str
    location_kind: LocationKind
    start: datetime
    end: datetime
    expires: datetime
    status: str = "open"  # open | claimed
    appointment_id: str | None = None
    # The cancelled appointment whose slot this is (None on offers made before it was kept).
    source_appointment_id: str | None = None
    version: int = 1


class AppointmentRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    email: str | None = None
    phone: str | None = None
    preferred_times: str
    note: str | None = None
    service_id: str | None = None
    status: str = "new"  # new | accepted | declined
    created_at: datetime
    patient_id: str | None = None
    appointment_id: str | None = None
    version: int = 1


def _utc_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _condition(version: int) -> Absent | VersionIs:
    return Absent() if version == 1 else VersionIs(version - 1)


def _fields(item: Item, model: type[BaseModel]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in model.model_fields}


class WaitlistRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    # ---- waitlist -------------------------------------------------------------------------

    def entry_op(self, entry: WaitlistEntry) -> Put:
        item = {
            "pk": _WAITLIST,
            "sk": entry.id,
            "gsi1pk": f"WAITLIST_PATIENT#{entry.patient_id}",
            "gsi1sk": entry.id,
            **entry.model_dump(mode="json"),
        }
        return Put(item, _condition(entry.version))

    def entry(self, entry_id: str) -> WaitlistEntry | None:
        item = self.store.get(_WAITLIST, entry_id)
        return None if item is None else WaitlistEntry.model_validate(_fields(item, WaitlistEntry))

    def waiting(self) -> list[WaitlistEntry]:
        """Every entry still waiting (a practice's waitlist is short; one partition)."""
        entries = (
            WaitlistEntry.model_validate(_fields(i, WaitlistEntry))
            for i in iterate(self.store, _WAITLIST)
        )
        return [e for e in entries if e.status == "waiting"]

    def page(
        self, patient_id: str | None, limit: int, cursor: str | None
    ) -> tuple[list[WaitlistEntry], str | None]:
        if patient_id is None:
            page = self.store.query(_WAITLIST, limit=limit, cursor=cursor)
        else:
            pk = f"WAITLIST_PATIENT#{patient_id}"
            page = self.store.query(pk, index="gsi1", limit=limit, cursor=cursor)
        entries = [WaitlistEntry.model_validate(_fields(i, WaitlistEntry)) for i in page.items]
        return entries, page.next_cursor

    # ---- offers ---------------------------------------------------------------------------

    def offer_op(self, offer: Offer) -> Put:
        item = {
            "pk": f"WAITLIST_OFFER#{offer.id}",
            "sk": "OFFER",
            "gsi1pk": _OFFERS,
            "gsi1sk": f"{_utc_key(offer.start)}#{offer.id}",
            **offer.model_dump(mode="json"),
        }
        return Put(item, _condition(offer.version))

    def offers_between(
        self, start: datetime, end: datetime, limit: int, cursor: str | None
    ) -> tuple[list[Offer], str | None]:
        """Offers of slots starting in [start, end), earliest first."""
        page = self.store.query(
            _OFFERS,
            index="gsi1",
            # "<start>#id" sorts after "<start>" and "<end>#id" after "<end>": [start, end).
            sk_between=(_utc_key(start), _utc_key(end)),
            limit=limit,
            cursor=cursor,
        )
        return [Offer.model_validate(_fields(i, Offer)) for i in page.items], page.next_cursor

    def offer(self, offer_id: str) -> Offer | None:
        item = self.store.get(f"WAITLIST_OFFER#{offer_id}", "OFFER")
        return None if item is None else Offer.model_validate(_fields(item, Offer))

    # ---- appointment requests ---------------------------------------------------------------

    def request_op(self, request: AppointmentRequest) -> Put:
        sealer = Sealer(self.cipher, self.store.practice_id, REQUEST_KIND, request.id)
        data = request.model_dump(mode="json")
        for name in REQUEST_SEALED:
            data[name] = sealer.seal(name, data.get(name))
        return Put({"pk": _REQUESTS, "sk": request.id, **data}, _condition(request.version))

    def request(self, request_id: str) -> AppointmentRequest | None:
        item = self.store.get(_REQUESTS, request_id)
        return None if item is None else self._request(item)

    def requests(
        self, limit: int, cursor: str | None
    ) -> tuple[list[AppointmentRequest], str | None]:
        page = self.store.query(_REQUESTS, limit=limit, cursor=cursor, descending=True)
        return [self._request(i) for i in page.items], page.next_cursor

    def _request(self, item: Item) -> AppointmentRequest:
        sealer = Sealer(self.cipher, self.store.practice_id, REQUEST_KIND, str(item["id"]))
        fields = _fields(item, AppointmentRequest)
        for name in REQUEST_SEALED:
            fields[name] = sealer.open(name, item.get(name))
        return AppointmentRequest.model_validate(fields)
