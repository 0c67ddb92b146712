"""Stored shape of disclosures and patients' rights requests.

DISCLOSURES#<pat>   <disclosed_on>#<dsc>  a disclosure (written once: Absent). Plain: ids,
                                          dates, basis, source, reference, who recorded it.
                                          Sealed (AAD = practice + `disclosure` + id +
                                          field): recipient, recipient_address,
                                          description, purpose.
RIGHTS#<pat>        <rrq>                 a rights request (versioned). Plain: ids, kind,
                                          dates, status, deciders, disclosure ids. Sealed
                                          (`rights-request`): details, response,
                                          disagreement, extension (JSON).
                    gsi1 RIGHTS_REQUESTS / <rrq>              every request, newest first
                    gsi2 OPEN_RIGHTS_REQUESTS / <due>#<rrq>   open only, by due date
"""

from __future__ import annotations

from datetime import date
from typing import Any

from tpm.adapters.store.base import Absent, IndexName, Item, PracticeStore, Put, VersionIs
from tpm.domain.rights import Disclosure, Extension, RequestStatus, RightsRequest
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

DISCLOSURE_KIND = "disclosure"
REQUEST_KIND = "rights_request"
_REQUEST_SEAL = "rights-request"  # sealing kinds take no underscore
DISCLOSURE_SEALED = ("recipient", "recipient_address", "description", "purpose")
REQUEST_SEALED = ("details", "response", "disagreement")
_LAYOUT = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"})
_PAGE = 200


class RightsRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    # ---- disclosures ----------------------------------------------------------------------

    def disclosure_op(self, disclosure: Disclosure) -> Put:
        sealer = Sealer(self.cipher, self.store.practice_id, DISCLOSURE_KIND, disclosure.id)
        data: dict[str, Any] = disclosure.model_dump(mode="json", exclude=set(DISCLOSURE_SEALED))
        for name in DISCLOSURE_SEALED:
            data[name] = sealer.seal(name, getattr(disclosure, name))
        item: Item = {
            "pk": f"DISCLOSURES#{disclosure.patient_id}",
            "sk": f"{disclosure.disclosed_on.isoformat()}#{disclosure.id}",
            **data,
        }
        return Put(item, Absent())

    def disclosures(
        self, patient_id: str, start: date | None = None, end: date | None = None
    ) -> list[Disclosure]:
        """The patient's disclosures, oldest first, optionally those dated start..end."""
        between = None
        if start is not None or end is not None:
            low = (start or date.min).isoformat()
            high = (end or date.max).isoformat() + "#~"
            between = (low, high)
        out: list[Disclosure] = []
        cursor: str | None = None
        while True:
            page = self.store.query(
                f"DISCLOSURES#{patient_id}", sk_between=between, limit=_PAGE, cursor=cursor
            )
            out.extend(self._disclosure(i) for i in page.items)
            cursor = page.next_cursor
            if cursor is None:
                return out

    def _disclosure(self, item: Item) -> Disclosure:
        sealer = Sealer(self.cipher, self.store.practice_id, DISCLOSURE_KIND, str(item["id"]))
        fields = {k: v for k, v in item.items() if k not in _LAYOUT}
        for name in DISCLOSURE_SEALED:
            fields[name] = sealer.open(name, item.get(name)) or ""
        return Disclosure.model_validate(fields)

    # ---- requests -------------------------------------------------------------------------

    def get(self, patient_id: str, request_id: str) -> RightsRequest | None:
        item = self.store.get(f"RIGHTS#{patient_id}", request_id)
        return None if item is None else self._request(item)

    def for_patient(self, patient_id: str) -> list[RightsRequest]:
        out: list[RightsRequest] = []
        cursor: str | None = None
        while True:
            page = self.store.query(
                f"RIGHTS#{patient_id}", limit=_PAGE, cursor=cursor, descending=True
            )
            out.extend(self._request(i) for i in page.items)
            cursor = page.next_cursor
            if cursor is None:
                return out

    def page(
        self, limit: int, cursor: str | None, *, open_only: bool
    ) -> tuple[list[RightsRequest], str | None]:
        index: IndexName = "gsi2" if open_only else "gsi1"
        pk = "OPEN_RIGHTS_REQUESTS" if open_only else "RIGHTS_REQUESTS"
        page = self.store.query(
            pk, index=index, limit=limit, cursor=cursor, descending=not open_only
        )
        return [self._request(i) for i in page.items], page.next_cursor

    def create_op(self, request: RightsRequest) -> Put:
        return Put(self._item(request), Absent())

    def update_op(self, request: RightsRequest) -> Put:
        """`request` carries the next version; the stored one must be exactly one behind."""
        return Put(self._item(request), VersionIs(request.version - 1))

    def _item(self, request: RightsRequest) -> Item:
        sealer = Sealer(self.cipher, self.store.practice_id, _REQUEST_SEAL, request.id)
        data: dict[str, Any] = request.model_dump(
            mode="json", exclude={*REQUEST_SEALED, "extension"}
        )
        for name in REQUEST_SEALED:
            data[name] = sealer.seal(name, getattr(request, name))
        data["extension"] = (
            sealer.seal("extension", request.extension.model_dump_json())
            if request.extension
            else None
        )
        item: Item = {
            "pk": f"RIGHTS#{request.patient_id}",
            "sk": request.id,
            "gsi1pk": "RIGHTS_REQUESTS",
            "gsi1sk": request.id,
            **data,
        }
        if request.status is RequestStatus.OPEN:
            item |= {
                "gsi2pk": "OPEN_RIGHTS_REQUESTS",
                "gsi2sk": f"{request.due_on.isoformat()}#{request.id}",
            }
        return item

    def _request(self, item: Item) -> RightsRequest:
        sealer = Sealer(self.cipher, self.store.practice_id, _REQUEST_SEAL, str(item["id"]))
        fields = {k: v for k, v in item.items() if k not in _LAYOUT}
        for name in REQUEST_SEALED:
            fields[name] = sealer.open(name, item.get(name)) or ""
        extension = sealer.open("extension", item.get("extension"))
        fields["extension"] = Extension.model_validate_json(extension) if extension else None
        return RightsRequest.model_validate(fields)
