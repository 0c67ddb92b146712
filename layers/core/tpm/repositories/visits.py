"""Stored shape of telehealth visits, their participants, guest invitations and the
in-visit message queue (WebRTC signalling and chat).

VISIT#<vid>       VISIT             the visit (gsi1: APPOINTMENT_VISIT#<apt> / VISIT,
                                    gsi2: CLINICIAN_VISITS#<cid> / <created>#<vid>)
VISIT_OF#<apt>    VISIT             one visit per appointment (Absent on create)
VISIT#<vid>       PART#<vpt>        a participant (alias, location, join token sealed)
VISIT#<vid>       WHO#<pid|uid>     one participant per patient / staff user (Absent)
VISIT_INVITE#<id> INVITE            a guest invitation (alias sealed; expires_at)
VISIT#<vid>       SIG#<to>#<ulid>   a message to one participant (payload sealed; expires_at)

Nothing in the visit item itself is sealed: ids, times, mode and the media service's
meeting description (no names, no credentials).
"""

from __future__ import annotations

import json
from typing import Any

from tpm.adapters.store.base import Absent, Item, Operation, PracticeStore, Put, VersionIs
from tpm.clock import to_rfc3339
from tpm.domain.telehealth import (
    SIGNAL_TTL,
    GuestInvitation,
    LocationAttestation,
    Participant,
    Signal,
    Visit,
)
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

_LAYOUT = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "expires_at"})


class VisitRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def _sealer(self, kind: str, record_id: str) -> Sealer:
        return Sealer(self.cipher, self.store.practice_id, kind, record_id)

    # ---- visits -------------------------------------------------------------------------

    def get(self, visit_id: str) -> Visit | None:
        item = self.store.get(f"VISIT#{visit_id}", "VISIT")
        return None if item is None else _visit(item)

    def for_appointment(self, appointment_id: str) -> Visit | None:
        page = self.store.query(f"APPOINTMENT_VISIT#{appointment_id}", index="gsi1", limit=1)
        return _visit(page.items[0]) if page.items else None

    def for_clinician(self, clinician_id: str, since: str, limit: int) -> list[Visit]:
        page = self.store.query(
            f"CLINICIAN_VISITS#{clinician_id}",
            index="gsi2",
            sk_between=(since, "~"),
            limit=limit,
            descending=True,
        )
        return [_visit(i) for i in page.items]

    @staticmethod
    def create_ops(visit: Visit) -> list[Operation]:
        return [
            Put(
                {"pk": f"VISIT_OF#{visit.appointment_id}", "sk": "VISIT", "visit_id": visit.id},
                Absent(),
            ),
            Put(_visit_item(visit), Absent()),
        ]

    @staticmethod
    def update_op(visit: Visit) -> Put:
        return Put(_visit_item(visit), VersionIs(visit.version - 1))

    # ---- participants -------------------------------------------------------------------

    def participants(self, visit_id: str) -> list[Participant]:
        page = self.store.query(f"VISIT#{visit_id}", sk_prefix="PART#", limit=100)
        return [self._participant(i) for i in page.items]

    def participant(self, visit_id: str, participant_id: str) -> Participant | None:
        item = self.store.get(f"VISIT#{visit_id}", f"PART#{participant_id}")
        return None if item is None else self._participant(item)

    def participant_of(self, visit_id: str, who: str) -> Participant | None:
        """The participant of a patient (patient id) or staff user (user id)."""
        item = self.store.get(f"VISIT#{visit_id}", f"WHO#{who}")
        return None if item is None else self.participant(visit_id, str(item["participant_id"]))

    def add_participant_ops(self, p: Participant) -> list[Operation]:
        ops: list[Operation] = []
        who = p.patient_id or p.user_id
        if who is not None:
            ops.append(
                Put(
                    {"pk": f"VISIT#{p.visit_id}", "sk": f"WHO#{who}", "participant_id": p.id},
                    Absent(),
                )
            )
        ops.append(Put(self._participant_item(p), Absent()))
        return ops

    def participant_op(self, p: Participant) -> Put:
        return Put(self._participant_item(p), VersionIs(p.version - 1))

    def _participant_item(self, p: Participant) -> Item:
        sealer = self._sealer("visit-participant", p.id)
        data: dict[str, Any] = p.model_dump(
            mode="json", exclude={"alias", "join_token", "location"}
        )
        data["alias"] = sealer.seal("alias", p.alias)
        data["join_token"] = sealer.seal("join_token", p.join_token)
        data["location"] = sealer.seal(
            "location", p.location.model_dump_json() if p.location else None
        )
        return {"pk": f"VISIT#{p.visit_id}", "sk": f"PART#{p.id}", **data}

    def _participant(self, item: Item) -> Participant:
        sealer = self._sealer("visit-participant", str(item["id"]))
        data = {k: v for k, v in item.items() if k not in _LAYOUT}
        data["alias"] = sealer.open("alias", item.get("alias"))
        data["join_token"] = sealer.open("join_token", item.get("join_token"))
        location = sealer.open("location", item.get("location"))
        data["location"] = LocationAttestation.model_validate_json(location) if location else None
        return Participant.model_validate(data)

    # ---- guest invitations ----------------------------------------------------------------

    def invitation(self, invitation_id: str) -> GuestInvitation | None:
        item = self.store.get(f"VISIT_INVITE#{invitation_id}", "INVITE")
        if item is None:
            return None
        sealer = self._sealer("visit-invitation", invitation_id)
        data = {k: v for k, v in item.items() if k not in _LAYOUT and k != "valid_until"}
        data["alias"] = sealer.open("alias", item.get("alias"))
        data["expires_at"] = item["valid_until"]
        return GuestInvitation.model_validate(data)

    def invitation_op(self, inv: GuestInvitation, *, create: bool) -> Put:
        sealer = self._sealer("visit-invitation", inv.id)
        data: dict[str, Any] = inv.model_dump(mode="json", exclude={"alias", "expires_at"})
        data["alias"] = sealer.seal("alias", inv.alias)
        item = {
            "pk": f"VISIT_INVITE#{inv.id}",
            "sk": "INVITE",
            "expires_at": int(inv.expires_at.timestamp()),  # the store hides it afterwards
            "valid_until": to_rfc3339(inv.expires_at),
            **data,
        }
        return Put(item, Absent() if create else VersionIs(inv.version - 1))

    # ---- messages (signalling and chat) ---------------------------------------------------

    def signal_op(self, s: Signal) -> Put:
        sealer = self._sealer("visit-signal", s.id)
        data: dict[str, Any] = s.model_dump(mode="json", exclude={"payload"})
        data["payload"] = sealer.seal("payload", s.payload)
        return Put(
            {
                "pk": f"VISIT#{s.visit_id}",
                "sk": f"SIG#{s.recipient_id}#{s.id}",
                "expires_at": int((s.sent_at + SIGNAL_TTL).timestamp()),
                **data,
            },
            Absent(),
        )

    def signals_for(
        self, visit_id: str, recipient_id: str, after: str | None, limit: int
    ) -> list[Signal]:
        prefix = f"SIG#{recipient_id}#"
        if after:
            page = self.store.query(
                f"VISIT#{visit_id}", sk_between=(f"{prefix}{after}~", f"{prefix}~"), limit=limit
            )
        else:
            page = self.store.query(f"VISIT#{visit_id}", sk_prefix=prefix, limit=limit)
        out = []
        for item in page.items:
            sealer = self._sealer("visit-signal", str(item["id"]))
            data = {k: v for k, v in item.items() if k not in _LAYOUT}
            data["payload"] = sealer.open("payload", item.get("payload"))
            out.append(Signal.model_validate(data))
        return out


def _visit_item(visit: Visit) -> Item:
    data: dict[str, Any] = visit.model_dump(mode="json", exclude={"meeting"})
    # The meeting description is stored as JSON text: its numbers and nesting are the
    # media service's, not ours.
    data["meeting"] = json.dumps(visit.meeting) if visit.meeting is not None else None
    return {
        "pk": f"VISIT#{visit.id}",
        "sk": "VISIT",
        "gsi1pk": f"APPOINTMENT_VISIT#{visit.appointment_id}",
        "gsi1sk": "VISIT",
        "gsi2pk": f"CLINICIAN_VISITS#{visit.clinician_id}",
        "gsi2sk": f"{to_rfc3339(visit.created_at)}#{visit.id}",
        **data,
    }


def _visit(item: Item) -> Visit:
    data = {k: v for k, v in item.items() if k not in _LAYOUT}
    meeting = data.get("meeting")
    data["meeting"] = json.loads(meeting) if isinstance(meeting, str) else None
    return Visit.model_validate(data)
