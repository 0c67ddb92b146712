"""The media port: create a meeting, add and remove attendees, delete the meeting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from tpm.adapters.outbound import OutboundGuard


@dataclass(frozen=True)
class MeetingFeatures:
    """Chosen by the practice's policy (tpm.domain.telehealth.TelehealthPolicy)."""

    max_video_resolution: Literal["HD", "FHD"] = "HD"
    content_share: bool = False  # screen sharing possible at all in this meeting
    max_attendees: int = 3


@dataclass(frozen=True)
class Meeting:
    meeting_id: str
    media_region: str
    # What a browser needs to join, never a secret (Chime: the Meeting object as the API
    # returned it: ids, region, media placement URLs).
    join_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Attendee:
    attendee_id: str
    join_token: str  # a credential: sealed at rest, given only to its attendee


class VideoService(Protocol):
    kind: str  # "chime" | "local": stored on the visit, tells the browser which client to load

    # The two calls that start media flowing to a provider ask the practice's business
    # associate register first (`guard`, tpm.adapters.outbound); a local service asks nothing.
    def create_meeting(
        self,
        visit_id: str,
        media_region: str | None,
        features: MeetingFeatures,
        *,
        guard: OutboundGuard,
    ) -> Meeting: ...

    def create_attendee(
        self, meeting_id: str, participant_id: str, content_share: bool, *, guard: OutboundGuard
    ) -> Attendee: ...

    def set_content_share(self, meeting_id: str, attendee_id: str, enabled: bool) -> None: ...

    def delete_attendee(self, meeting_id: str, attendee_id: str) -> None: ...

    def delete_meeting(self, meeting_id: str) -> None: ...
