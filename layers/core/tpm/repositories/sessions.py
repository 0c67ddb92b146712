"""Stored shape of sessions and refresh tokens.

USER#<id>        SESSION#<sid>   the session (expires_at = TTL clean-up after its end)
REFRESH#<hash>   TOKEN           refresh token -> session (rotated on every use)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tpm.adapters.store.base import Absent, Delete, Item, PracticeStore, Put, VersionIs
from tpm.domain.sessions import Session

_TTL_GRACE = timedelta(days=1)


class SessionRepository:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    def get(self, user_id: str, session_id: str) -> Session | None:
        item = self.store.get(f"USER#{user_id}", f"SESSION#{session_id}")
        return None if item is None else _from_item(item)

    def list_for_user(self, user_id: str) -> list[Session]:
        page = self.store.query(f"USER#{user_id}", sk_prefix="SESSION#", limit=200)
        return [_from_item(i) for i in page.items]

    def create_op(self, session: Session) -> Put:
        return Put(_to_item(session), Absent())

    def update_op(self, session: Session) -> Put:
        return Put(_to_item(session), VersionIs(session.version - 1))

    def refresh_lookup(self, token_hash: str) -> Item | None:
        return self.store.get(f"REFRESH#{token_hash}", "TOKEN")

    def refresh_ops(
        self, session: Session, new_hash: str, old_hash: str | None
    ) -> list[Put | Delete]:
        ops: list[Put | Delete] = [
            Put(
                {
                    "pk": f"REFRESH#{new_hash}",
                    "sk": "TOKEN",
                    "user_id": session.user_id,
                    "session_id": session.id,
                    "rotated": False,
                    "expires_at": _epoch(session.expires_at + _TTL_GRACE),
                },
                Absent(),
            )
        ]
        if old_hash is not None:
            # Keep the spent token (marked) so a replay is recognised and ends the session.
            ops.append(
                Put(
                    {
                        "pk": f"REFRESH#{old_hash}",
                        "sk": "TOKEN",
                        "user_id": session.user_id,
                        "session_id": session.id,
                        "rotated": True,
                        "expires_at": _epoch(session.expires_at + _TTL_GRACE),
                    },
                )
            )
        return ops


def _epoch(moment: Any) -> int:
    return int(moment.timestamp())


def _to_item(session: Session) -> Item:
    data = session.model_dump(mode="json")
    return {
        "pk": f"USER#{session.user_id}",
        "sk": f"SESSION#{session.id}",
        "expires_at": _epoch(session.expires_at + _TTL_GRACE),
        "session_expires_at": data.pop("expires_at"),
        **data,
    }


def _from_item(item: Item) -> Session:
    fields = {k: v for k, v in item.items() if k in Session.model_fields and k != "expires_at"}
    fields["expires_at"] = item["session_expires_at"]
    return Session.model_validate(fields)
