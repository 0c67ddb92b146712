"""Secret URL tokens for the few public routes (reminder opt-out, calendar feeds).

A public request carries no practice, so the token is looked up in the reserved system
scope, by its SHA-256 only (a leaked table does not yield working URLs):

_system  PUBLIC_TOKEN   <sha256(token)>   {purpose, practice_id, ...ids}
_system  SMS_NUMBER     <E.164 number>    {practice_id}  the practice an inbound SMS is for

The token itself is random (calendar feeds) or a keyed HMAC (opt-out: the same link in
every email to a patient, so nothing has to be stored per message). It never holds PHI.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from tpm.adapters.store.base import SYSTEM_PRACTICE, Absent, ConditionFailed, Store
from tpm.repositories.reminders import token_hash

Purpose = Literal["opt_out", "calendar"]
_PK = "PUBLIC_TOKEN"
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


class PublicTokens:
    def __init__(self, store: Store) -> None:
        self.system = store.practice(SYSTEM_PRACTICE)

    def register(self, token: str, purpose: Purpose, practice_id: str, **ids: str) -> None:
        self.system.put(
            {
                "pk": _PK,
                "sk": token_hash(token),
                "purpose": purpose,
                "practice_id": practice_id,
                **ids,
            }
        )

    def exists(self, token: str) -> bool:
        return self.system.get(_PK, token_hash(token)) is not None

    def resolve(self, token: str, purpose: Purpose) -> dict[str, Any] | None:
        if not TOKEN_PATTERN.match(token):
            return None
        item = self.system.get(_PK, token_hash(token))
        if item is None or item.get("purpose") != purpose:
            return None
        return dict(item)

    def revoke(self, token_digest: str) -> None:
        self.system.delete(_PK, token_digest)


class SmsNumbers:
    """Which practice owns an SMS number (one practice per number)."""

    def __init__(self, store: Store) -> None:
        self.system = store.practice(SYSTEM_PRACTICE)

    def claim(self, number: str, practice_id: str) -> bool:
        """True when the number is (now) this practice's; False when another holds it."""
        try:
            self.system.put(
                {"pk": "SMS_NUMBER", "sk": number, "practice_id": practice_id}, Absent()
            )
        except ConditionFailed:
            return self.practice_for(number) == practice_id
        return True

    def practice_for(self, number: str) -> str | None:
        item = self.system.get("SMS_NUMBER", number)
        return None if item is None else str(item["practice_id"])
