"""The relationship facts authorisation needs, answered from the store.

PATIENT#<pid>   CARETEAM#<uid>    care-team membership (gsi1: CARETEAM#<uid> / <pid>)
PATIENT#<pid>   BREAKGLASS#<uid>  an emergency-access grant (expires_at = its end)
"""

from __future__ import annotations

from datetime import datetime

from tpm.adapters.store.base import Absent, Delete, Exists, PracticeStore, Put
from tpm.clock import to_rfc3339


class StoreRelationships:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    def on_care_team(self, patient_id: str, user_id: str) -> bool:
        return self.store.get(f"PATIENT#{patient_id}", f"CARETEAM#{user_id}") is not None

    def care_team(self, patient_id: str) -> list[str]:
        page = self.store.query(f"PATIENT#{patient_id}", sk_prefix="CARETEAM#", limit=100)
        return [str(i["user_id"]) for i in page.items]

    def patients_of(
        self, user_id: str, limit: int, cursor: str | None
    ) -> tuple[list[str], str | None]:
        page = self.store.query(f"CARETEAM#{user_id}", index="gsi1", limit=limit, cursor=cursor)
        return [str(i["patient_id"]) for i in page.items], page.next_cursor

    def supervises_care_team_of(self, patient_id: str, supervisor_id: str) -> bool:
        team = set(self.care_team(patient_id))
        if not team:
            return False
        page = self.store.query(f"SUPERVISEES#{supervisor_id}", index="gsi1", limit=1000)
        return any(str(i["user_id"]) in team for i in page.items)

    def break_glass_active(self, patient_id: str, user_id: str, now: datetime) -> bool:
        # The store hides rows whose expires_at has passed, so presence means active.
        return self.store.get(f"PATIENT#{patient_id}", f"BREAKGLASS#{user_id}") is not None

    # ---- writes -----------------------------------------------------------------------

    @staticmethod
    def add_member_op(patient_id: str, user_id: str, at: datetime) -> Put:
        return Put(
            {
                "pk": f"PATIENT#{patient_id}",
                "sk": f"CARETEAM#{user_id}",
                "gsi1pk": f"CARETEAM#{user_id}",
                "gsi1sk": patient_id,
                "patient_id": patient_id,
                "user_id": user_id,
                "added_at": to_rfc3339(at),
            },
            Absent(),
        )

    @staticmethod
    def remove_member_op(patient_id: str, user_id: str) -> Delete:
        return Delete(f"PATIENT#{patient_id}", f"CARETEAM#{user_id}", Exists())

    @staticmethod
    def break_glass_op(
        patient_id: str,
        user_id: str,
        grant_id: str,
        sealed_reason: str,
        start: datetime,
        end: datetime,
    ) -> Put:
        return Put(
            {
                "pk": f"PATIENT#{patient_id}",
                "sk": f"BREAKGLASS#{user_id}",
                "grant_id": grant_id,
                "reason": sealed_reason,
                "started_at": to_rfc3339(start),
                "ends_at": to_rfc3339(end),
                "expires_at": int(end.timestamp()),
            }
        )
