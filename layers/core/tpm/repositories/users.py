"""Stored shape of users, their email index, role history and supervision links.

Keys (practice-scoped by the store):
  USER#<id>          PROFILE                 the user (gsi1: USERS / <id>)
  USER_EMAIL         <blind index of email>  uniqueness + sign-in lookup
  USER#<id>          ROLES#<time>#<id>       role-change history (append-only)
  USER#<id>          SUPERVISOR#<id>         supervision (gsi1: SUPERVISEES#<sup> / <id>)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tpm.adapters.store.base import Absent, Check, Item, Page, PracticeStore, Put, VersionIs
from tpm.clock import to_rfc3339
from tpm.domain.users import User, normalise_email
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

KIND = "user"
_SEALED = ("email", "display_name", "mfa_secret", "mfa_pending_secret")


def email_key(cipher: FieldCipher, practice_id: str, email: str) -> str:
    return cipher.blind_index(practice_id, "user-email", normalise_email(email))


class UserRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def _sealer(self, user_id: str) -> Sealer:
        return Sealer(self.cipher, self.store.practice_id, KIND, user_id)

    # ---- reads ------------------------------------------------------------------------

    def get(self, user_id: str) -> User | None:
        item = self.store.get(f"USER#{user_id}", "PROFILE")
        return None if item is None else self.from_item(item)

    def find_by_email(self, email: str) -> User | None:
        entry = self.store.get("USER_EMAIL", email_key(self.cipher, self.store.practice_id, email))
        return None if entry is None else self.get(str(entry["user_id"]))

    def page(self, limit: int, cursor: str | None) -> tuple[list[User], str | None]:
        page: Page = self.store.query("USERS", index="gsi1", limit=limit, cursor=cursor)
        return [self.from_item(i) for i in page.items], page.next_cursor

    def supervisors_of(self, user_id: str) -> list[str]:
        page = self.store.query(f"USER#{user_id}", sk_prefix="SUPERVISOR#", limit=100)
        return [str(i["supervisor_id"]) for i in page.items]

    def supervisees_of(self, supervisor_id: str) -> list[str]:
        page = self.store.query(f"SUPERVISEES#{supervisor_id}", index="gsi1", limit=1000)
        return [str(i["user_id"]) for i in page.items]

    # ---- writes (operations for a transaction) ------------------------------------------

    def create_ops(self, user: User) -> list[Put]:
        key = email_key(self.cipher, self.store.practice_id, user.email)
        return [
            Put({"pk": "USER_EMAIL", "sk": key, "user_id": user.id}, Absent()),
            Put(self.to_item(user), Absent()),
        ]

    def all(self) -> list[User]:
        users, cursor = self.page(100, None)
        while cursor is not None:
            more, cursor = self.page(100, cursor)
            users += more
        return users

    def unchanged_op(self, user: User) -> Check:
        """A condition that `user`'s row is still at the version read (not written)."""
        return Check(f"USER#{user.id}", "PROFILE", VersionIs(user.version))

    def update_op(self, user: User) -> Put:
        """`user` carries the new version; the stored one must be exactly one behind."""
        return Put(self.to_item(user), VersionIs(user.version - 1))

    def role_change_op(
        self, user_id: str, at: datetime, by: str, before: list[str], after: list[str]
    ) -> Put:
        stamp = to_rfc3339(at)
        return Put(
            {
                "pk": f"USER#{user_id}",
                "sk": f"ROLES#{stamp}#{by}",
                "at": stamp,
                "by": by,
                "before": sorted(before),
                "after": sorted(after),
            },
            Absent(),
        )

    def role_history(self, user_id: str) -> list[Item]:
        return self.store.query(f"USER#{user_id}", sk_prefix="ROLES#", limit=1000).items

    def supervision_op(self, supervisee_id: str, supervisor_id: str) -> Put:
        return Put(
            {
                "pk": f"USER#{supervisee_id}",
                "sk": f"SUPERVISOR#{supervisor_id}",
                "gsi1pk": f"SUPERVISEES#{supervisor_id}",
                "gsi1sk": supervisee_id,
                "user_id": supervisee_id,
                "supervisor_id": supervisor_id,
            },
            Absent(),
        )

    # ---- mapping ----------------------------------------------------------------------

    def to_item(self, user: User) -> Item:
        sealer = self._sealer(user.id)
        data: dict[str, Any] = user.model_dump(mode="json", exclude=set(_SEALED))
        for name in _SEALED:
            data[name] = sealer.seal(name, getattr(user, name))
        data["roles"] = sorted(r.value for r in user.roles)
        data["recovery_code_hashes"] = list(user.recovery_code_hashes)
        return {
            "pk": f"USER#{user.id}",
            "sk": "PROFILE",
            "gsi1pk": "USERS",
            "gsi1sk": user.id,
            **data,
        }

    def from_item(self, item: Item) -> User:
        sealer = self._sealer(str(item["id"]))
        fields = {k: v for k, v in item.items() if k in User.model_fields}
        for name in _SEALED:
            fields[name] = sealer.open(name, item.get(name))
        return User.model_validate(fields)
