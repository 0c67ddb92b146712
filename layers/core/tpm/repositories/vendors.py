"""Stored shape of the business associate / vendor register.

VENDOR#<vnd>       PROFILE     the vendor and its agreement (gsi1 VENDORS / <key>: the
                               register in key order); versioned
VENDOR_KEY#<key>   KEY         the key -> vendor id (Absent: one vendor per key; read with
                               a strongly consistent get by the outbound guard)
VENDOR#<vnd>       DOC#<vdd>   one due-diligence file's metadata, title and file name sealed;
                               the bytes are in the file store under the same id, sealed
VENDOR_WARNED#<vnd>  <expires_on>#<days>  an expiry warning already sent (Absent: once)

Vendor records are business records, not PHI: stored in the clear except the
due-diligence titles and file names (confidential contract material).
"""

from __future__ import annotations

import json
from typing import Any

from tpm.adapters.store.base import Absent, Item, PracticeStore, Put, VersionIs, iterate
from tpm.domain.vendors import DueDiligenceDocument, Vendor
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

DOC_KIND = "vendor-document"
_LAYOUT = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "type"})


class VendorRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    # ---- reads --------------------------------------------------------------------------

    def get(self, vendor_id: str) -> Vendor | None:
        item = self.store.get(f"VENDOR#{vendor_id}", "PROFILE")
        return None if item is None else _vendor(item)

    def by_key(self, key: str) -> Vendor | None:
        row = self.store.get(f"VENDOR_KEY#{key}", "KEY")
        return None if row is None else self.get(str(row["vendor_id"]))

    def page(self, limit: int, cursor: str | None) -> tuple[list[Vendor], str | None]:
        page = self.store.query("VENDORS", index="gsi1", limit=limit, cursor=cursor)
        return [_vendor(i) for i in page.items], page.next_cursor

    def all(self) -> list[Vendor]:
        return [_vendor(i) for i in iterate(self.store, "VENDORS", index="gsi1")]

    def documents(self, vendor_id: str) -> list[DueDiligenceDocument]:
        page = self.store.query(f"VENDOR#{vendor_id}", sk_prefix="DOC#", limit=1000)
        return [self._document(i) for i in page.items]

    def document(self, vendor_id: str, document_id: str) -> DueDiligenceDocument | None:
        item = self.store.get(f"VENDOR#{vendor_id}", f"DOC#{document_id}")
        return None if item is None else self._document(item)

    # ---- writes (operations for one transaction) ------------------------------------------

    @staticmethod
    def create_ops(vendor: Vendor) -> list[Put]:
        return [
            Put(_vendor_item(vendor), Absent()),
            Put({"pk": f"VENDOR_KEY#{vendor.key}", "sk": "KEY", "vendor_id": vendor.id}, Absent()),
        ]

    @staticmethod
    def update_op(vendor: Vendor) -> Put:
        """`vendor` carries the next version; the stored one must be exactly one behind."""
        return Put(_vendor_item(vendor), VersionIs(vendor.version - 1))

    def document_op(self, document: DueDiligenceDocument) -> Put:
        sealer = Sealer(self.cipher, self.store.practice_id, DOC_KIND, document.id)
        data: dict[str, Any] = document.model_dump(mode="json", exclude={"title", "filename"})
        return Put(
            {
                "pk": f"VENDOR#{document.vendor_id}",
                "sk": f"DOC#{document.id}",
                **data,
                "title": sealer.seal("title", document.title),
                "filename": sealer.seal("filename", document.filename),
            },
            Absent(),
        )

    @staticmethod
    def warned_op(vendor_id: str, marker: str) -> Put:
        return Put({"pk": f"VENDOR_WARNED#{vendor_id}", "sk": marker}, Absent())

    def warned(self, vendor_id: str, marker: str) -> bool:
        return self.store.get(f"VENDOR_WARNED#{vendor_id}", marker) is not None

    def _document(self, item: Item) -> DueDiligenceDocument:
        sealer = Sealer(self.cipher, self.store.practice_id, DOC_KIND, str(item["id"]))
        fields = {k: v for k, v in item.items() if k not in _LAYOUT}
        fields["title"] = sealer.open("title", item.get("title"))
        fields["filename"] = sealer.open("filename", item.get("filename"))
        return DueDiligenceDocument.model_validate(fields)


def _vendor_item(vendor: Vendor) -> Item:
    data = vendor.model_dump(mode="json")
    # The agreement is one nested map; services lists become a plain list.
    data["agreement"] = json.loads(vendor.agreement.model_dump_json())
    return {
        "pk": f"VENDOR#{vendor.id}",
        "sk": "PROFILE",
        "gsi1pk": "VENDORS",
        "gsi1sk": vendor.key,
        **data,
    }


def _vendor(item: Item) -> Vendor:
    fields = {k: v for k, v in item.items() if k not in _LAYOUT}
    return Vendor.model_validate(fields)
