"""Stored shape of access reviews.

ACCESS_REVIEW#<arv>   REVIEW   the review (versioned). Plain: ids, times, status, the user
                               snapshot (roles, counts, decisions). Sealed (AAD = practice +
                               `access-review` + id + field): uses (JSON: patient ids,
                               break-glass reasons, notes), summary, user notes (JSON).
                               gsi1 ACCESS_REVIEWS / <arv>   every review, newest first
"""

from __future__ import annotations

import json
from typing import Any

from tpm.adapters.store.base import Absent, Item, PracticeStore, Put, VersionIs
from tpm.domain.access_reviews import AccessReview
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

KIND = "access_review"
_SEAL = "access-review"
_LAYOUT = frozenset({"pk", "sk", "gsi1pk", "gsi1sk"})


class AccessReviewRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def get(self, review_id: str) -> AccessReview | None:
        item = self.store.get(f"ACCESS_REVIEW#{review_id}", "REVIEW")
        return None if item is None else self._review(item)

    def page(self, limit: int, cursor: str | None) -> tuple[list[AccessReview], str | None]:
        page = self.store.query(
            "ACCESS_REVIEWS", index="gsi1", limit=limit, cursor=cursor, descending=True
        )
        return [self._review(i) for i in page.items], page.next_cursor

    def create_op(self, review: AccessReview) -> Put:
        return Put(self._item(review), Absent())

    def update_op(self, review: AccessReview) -> Put:
        return Put(self._item(review), VersionIs(review.version - 1))

    def _item(self, review: AccessReview) -> Item:
        sealer = Sealer(self.cipher, self.store.practice_id, _SEAL, review.id)
        data: dict[str, Any] = review.model_dump(mode="json", exclude={"uses", "summary"})
        notes = {u["user_id"]: u.pop("note") for u in data["users"]}
        data["user_notes"] = sealer.seal("user_notes", json.dumps(notes))
        data["uses"] = sealer.seal(
            "uses", json.dumps([u.model_dump(mode="json") for u in review.uses])
        )
        data["summary"] = sealer.seal("summary", review.summary)
        return {
            "pk": f"ACCESS_REVIEW#{review.id}",
            "sk": "REVIEW",
            "gsi1pk": "ACCESS_REVIEWS",
            "gsi1sk": review.id,
            **data,
        }

    def _review(self, item: Item) -> AccessReview:
        sealer = Sealer(self.cipher, self.store.practice_id, _SEAL, str(item["id"]))
        fields = {k: v for k, v in item.items() if k not in _LAYOUT and k != "user_notes"}
        notes = json.loads(sealer.open("user_notes", item.get("user_notes")) or "{}")
        fields["users"] = [u | {"note": notes.get(u["user_id"], "")} for u in item["users"]]
        fields["uses"] = json.loads(sealer.open("uses", item.get("uses")) or "[]")
        fields["summary"] = sealer.open("summary", item.get("summary")) or ""
        return AccessReview.model_validate(fields)
