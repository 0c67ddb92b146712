"""Stored shape of security incidents.

INCIDENT#<inc>        PROFILE  the incident (versioned). Plain: ids, source, reference, times,
                               status, determination, patient ids, counts. Sealed (AAD =
                               practice + `incident` + id + field): summary, details,
                               assessment (JSON), notifications (JSON), close_reason.
                               gsi1 INCIDENTS / <inc>        every incident, newest first
                               gsi2 OPEN_INCIDENTS / <inc>   only while open (sparse)
INCIDENT_KEY#<key>    KEY      dedupe key -> incident id (Absent): a source that reports the
                               same problem again (an hourly verification) finds the open one
"""

from __future__ import annotations

import json
from typing import Any

from tpm.adapters.store.base import Absent, IndexName, Item, PracticeStore, Put, VersionIs
from tpm.domain.incidents import Incident, IncidentStatus
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

KIND = "incident"
SEALED_TEXT = ("summary", "details", "close_reason")
SEALED_JSON = ("assessment", "notifications")
_LAYOUT = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "determination"})


class IncidentRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def _sealer(self, incident_id: str) -> Sealer:
        return Sealer(self.cipher, self.store.practice_id, KIND, incident_id)

    def get(self, incident_id: str) -> Incident | None:
        item = self.store.get(f"INCIDENT#{incident_id}", "PROFILE")
        return None if item is None else self.from_item(item)

    def by_dedupe_key(self, key: str) -> Incident | None:
        row = self.store.get(f"INCIDENT_KEY#{key}", "KEY")
        return None if row is None else self.get(str(row["incident_id"]))

    def page(
        self, limit: int, cursor: str | None, *, open_only: bool = False
    ) -> tuple[list[Incident], str | None]:
        index: IndexName = "gsi2" if open_only else "gsi1"
        pk = "OPEN_INCIDENTS" if open_only else "INCIDENTS"
        page = self.store.query(pk, index=index, limit=limit, cursor=cursor, descending=True)
        return [self.from_item(i) for i in page.items], page.next_cursor

    def create_ops(self, incident: Incident) -> list[Put]:
        ops = [Put(self.to_item(incident), Absent())]
        if incident.dedupe_key:
            ops.append(
                Put(
                    {
                        "pk": f"INCIDENT_KEY#{incident.dedupe_key}",
                        "sk": "KEY",
                        "incident_id": incident.id,
                    },
                    Absent(),
                )
            )
        return ops

    def update_op(self, incident: Incident) -> Put:
        """`incident` carries the next version; the stored one must be exactly one behind."""
        return Put(self.to_item(incident), VersionIs(incident.version - 1))

    def to_item(self, incident: Incident) -> Item:
        sealer = self._sealer(incident.id)
        data: dict[str, Any] = incident.model_dump(
            mode="json", exclude={*SEALED_TEXT, *SEALED_JSON}
        )
        for name in SEALED_TEXT:
            data[name] = sealer.seal(name, getattr(incident, name))
        data["assessment"] = (
            sealer.seal("assessment", incident.assessment.model_dump_json())
            if incident.assessment
            else None
        )
        data["notifications"] = sealer.seal(
            "notifications", json.dumps([n.model_dump(mode="json") for n in incident.notifications])
        )
        item: Item = {
            "pk": f"INCIDENT#{incident.id}",
            "sk": "PROFILE",
            "gsi1pk": "INCIDENTS",
            "gsi1sk": incident.id,
            "determination": incident.determination.value,
            **data,
        }
        if incident.status is IncidentStatus.OPEN:
            item |= {"gsi2pk": "OPEN_INCIDENTS", "gsi2sk": incident.id}
        return item

    def from_item(self, item: Item) -> Incident:
        sealer = self._sealer(str(item["id"]))
        fields = {k: v for k, v in item.items() if k not in _LAYOUT}
        for name in SEALED_TEXT:
            fields[name] = sealer.open(name, item.get(name)) or ""
        assessment = sealer.open("assessment", item.get("assessment"))
        fields["assessment"] = json.loads(assessment) if assessment else None
        notifications = sealer.open("notifications", item.get("notifications"))
        fields["notifications"] = json.loads(notifications) if notifications else []
        return Incident.model_validate(fields)
