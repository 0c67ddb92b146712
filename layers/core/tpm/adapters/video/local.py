"""tpm dev's media: no media server. Browsers connect to each other with WebRTC and
exchange offers, answers and ICE candidates through the visit's signalling routes
(POST/GET /v1/visits/{visitId}/signals), which only admitted participants may use.

A "meeting" is the visit itself and an "attendee" is the participant; the join token is
a random value the browser presents back, so the credential still exists only from
admission on and is dropped when the person leaves, exactly as with Chime.
"""

from __future__ import annotations

import secrets

from tpm.adapters.outbound import OutboundGuard
from tpm.adapters.video.base import Attendee, Meeting, MeetingFeatures


class LocalVideo:
    kind = "local"

    def __init__(self) -> None:
        self.deleted_meetings: list[str] = []

    def create_meeting(
        self,
        visit_id: str,
        media_region: str | None,
        features: MeetingFeatures,
        *,
        guard: OutboundGuard,
    ) -> Meeting:
        # Nothing leaves this machine: no vendor to ask (tpm.adapters.outbound).
        return Meeting(
            meeting_id=f"local-{visit_id}",
            media_region="local",
            join_info={
                "MeetingId": f"local-{visit_id}",
                "MediaRegion": "local",
                "MaxVideoResolution": features.max_video_resolution,
                # Loopback only: no STUN/TURN server is contacted (no network here).
                "IceServers": [],
            },
        )

    def create_attendee(
        self, meeting_id: str, participant_id: str, content_share: bool, *, guard: OutboundGuard
    ) -> Attendee:
        return Attendee(attendee_id=participant_id, join_token=secrets.token_urlsafe(24))

    def set_content_share(self, meeting_id: str, attendee_id: str, enabled: bool) -> None:
        return None

    def delete_attendee(self, meeting_id: str, attendee_id: str) -> None:
        return None

    def delete_meeting(self, meeting_id: str) -> None:
        self.deleted_meetings.append(meeting_id)
