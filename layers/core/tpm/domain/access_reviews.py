"""Periodic access reviews (45 CFR 164.308(a)(3)(ii)(B)-(C), (a)(4)(ii)(C)): who holds
which role and reaches which patients, and every break-glass use of the period, reviewed
and signed off by the compliance officer. Pure.

A review is started as a snapshot (the users with their roles, status and care-team size;
the break-glass uses since the period start). The reviewer then records a decision per user
(`keep`, or `change` with a note of what must change — the change itself is made in user
administration, which keeps its own history) and a verdict per break-glass use
(`justified` or `unjustified`; an unjustified use opens a security incident). A review can
be signed off only when every user has a decision and every use a verdict; after that it
is read-only evidence.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from tpm.errors import Conflict

DEFAULT_PERIOD_DAYS: Final = 90


class ReviewStatus(StrEnum):
    OPEN = "open"
    SIGNED_OFF = "signed_off"


class UserDecision(StrEnum):
    KEEP = "keep"
    CHANGE = "change"


class UseVerdict(StrEnum):
    JUSTIFIED = "justified"
    UNJUSTIFIED = "unjustified"


class InvalidReviewState(Conflict):
    code = "invalid_review_state"
    message = "The access review is not in a state that allows this."


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UserAccess(_Frozen):
    user_id: str
    display_name: str
    roles: tuple[str, ...]
    status: str
    care_team_patients: int
    supervisees: int
    decision: UserDecision | None = None
    note: str = Field(default="", max_length=2000)


class BreakGlassUse(_Frozen):
    grant_id: str
    user_id: str
    patient_id: str
    started_at: datetime
    ends_at: datetime
    reason: str = ""  # the user's stated reason (sealed at rest)
    verdict: UseVerdict | None = None
    note: str = Field(default="", max_length=2000)
    incident_id: str | None = None


class AccessReview(_Frozen):
    id: str = Field(pattern=r"^arv_[0-9a-z]{26}$")
    period_from: datetime
    started_at: datetime
    started_by: str
    users: tuple[UserAccess, ...]
    uses: tuple[BreakGlassUse, ...]
    status: ReviewStatus = ReviewStatus.OPEN
    summary: str = Field(default="", max_length=8000)
    signed_off_by: str | None = None
    signed_off_at: datetime | None = None
    version: int = 1

    def bump(self, **changes: object) -> AccessReview:
        return self.model_validate(self.model_dump() | changes | {"version": self.version + 1})

    def outstanding(self) -> tuple[list[str], list[str]]:
        """The users without a decision and the uses without a verdict."""
        return (
            [u.user_id for u in self.users if u.decision is None],
            [g.grant_id for g in self.uses if g.verdict is None],
        )


def sign_off_problem(review: AccessReview) -> str | None:
    if review.status is ReviewStatus.SIGNED_OFF:
        return "already_signed_off"
    users, uses = review.outstanding()
    if users:
        return "users_outstanding"
    if uses:
        return "break_glass_outstanding"
    return None
