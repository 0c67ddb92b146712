"""Amazon Chime SDK meetings through boto3 (`chime-sdk-meetings`).

Exactly four calls happen on the visit path, and the template grants exactly those (plus
UpdateAttendeeCapabilities for screen sharing): CreateMeeting when the host starts,
CreateAttendee only at admission, DeleteAttendee at deny/remove/leave, DeleteMeeting at
the end. CreateMeeting and CreateAttendee ask the business associate register first
(vendor `aws`): without an agreement in effect no meeting starts and nobody is admitted
to one. No identifying data reaches Chime's control plane: the external meeting id is the
visit id, the external user id the participant id (names stay in our store).
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tpm.adapters.outbound import OutboundGuard
from tpm.adapters.video.base import Attendee, Meeting, MeetingFeatures
from tpm.errors import DependencyUnavailable, NotFound

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5)
# Chime SDK meetings are covered by the practice's business associate agreement with AWS.
VENDOR = "aws"
_GONE = frozenset({"NotFoundException", "NotFound"})


class ChimeVideo:
    kind = "chime"

    def __init__(self, *, region: str, client: Any = None) -> None:
        self.region = region
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = boto3.client(
                        "chime-sdk-meetings", region_name=self.region, config=_CONFIG
                    )
        return self._client

    def create_meeting(
        self,
        visit_id: str,
        media_region: str | None,
        features: MeetingFeatures,
        *,
        guard: OutboundGuard,
    ) -> Meeting:
        guard.require(VENDOR, carries_phi=True)  # a therapy session's audio and video
        request: dict[str, Any] = {
            "ClientRequestToken": visit_id,  # a retried start gets the same meeting
            "MediaRegion": media_region or self.region,
            "ExternalMeetingId": visit_id,
            "MeetingFeatures": {
                "Audio": {"EchoReduction": "AVAILABLE"},
                "Video": {"MaxResolution": features.max_video_resolution},
                "Content": {"MaxResolution": "FHD" if features.content_share else "None"},
                "Attendee": {"MaxCount": max(2, features.max_attendees)},
            },
        }
        response = self._call("create_meeting", **request)
        meeting = response["Meeting"]
        return Meeting(
            meeting_id=str(meeting["MeetingId"]),
            media_region=str(meeting["MediaRegion"]),
            join_info=_json_safe(meeting),
        )

    def create_attendee(
        self, meeting_id: str, participant_id: str, content_share: bool, *, guard: OutboundGuard
    ) -> Attendee:
        guard.require(VENDOR, carries_phi=True)
        response = self._call(
            "create_attendee",
            MeetingId=meeting_id,
            ExternalUserId=participant_id,
            Capabilities=_capabilities(content_share),
        )
        attendee = response["Attendee"]
        return Attendee(
            attendee_id=str(attendee["AttendeeId"]), join_token=str(attendee["JoinToken"])
        )

    def set_content_share(self, meeting_id: str, attendee_id: str, enabled: bool) -> None:
        self._call(
            "update_attendee_capabilities",
            MeetingId=meeting_id,
            AttendeeId=attendee_id,
            Capabilities=_capabilities(enabled),
        )

    def delete_attendee(self, meeting_id: str, attendee_id: str) -> None:
        self._gone_is_fine("delete_attendee", MeetingId=meeting_id, AttendeeId=attendee_id)

    def delete_meeting(self, meeting_id: str) -> None:
        self._gone_is_fine("delete_meeting", MeetingId=meeting_id)

    # ---- helpers ------------------------------------------------------------------------

    def _gone_is_fine(self, operation: str, **params: Any) -> None:
        """Deleting what Chime already removed (an empty meeting ends by itself after a
        while) is the outcome we wanted."""
        try:
            self._call(operation, **params)
        except NotFound:
            return

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self.client, operation)(**params)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _GONE:
                raise NotFound() from None
            # Throttling, service unavailable, access denied: the visit cannot go on now.
            raise DependencyUnavailable(service="chime", reason=_reason(code)) from None
        except BotoCoreError:
            raise DependencyUnavailable(service="chime", reason="unreachable") from None
        return result


def _capabilities(content_share: bool) -> dict[str, str]:
    return {
        "Audio": "SendReceive",
        "Video": "SendReceive",
        "Content": "SendReceive" if content_share else "Receive",
    }


def _reason(code: str) -> str:
    if code in ("ThrottlingException", "LimitExceededException", "ServiceUnavailableException"):
        return "throttled"
    if code in ("ForbiddenException", "UnauthorizedException", "AccessDeniedException"):
        return "access_denied"
    return "error"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value
