"""The media service behind a telehealth visit, chosen by TPM_VIDEO (see tpm.config):

  local://                       tpm dev: browser-to-browser WebRTC, signalled through the
                                 API (no media server; nothing leaves the machine)
  chime://?region=us-east-1      Amazon Chime SDK meetings (`chime-sdk-meetings`) through
                                 boto3, control plane in `region`

Both speak the same small port, so the waiting room, admission and ending are one code
path (tpm.services.telehealth); the browser picks its media client from `Visit.media`.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tpm.adapters.video.base import Attendee, Meeting, MeetingFeatures, VideoService

__all__ = ["Attendee", "Meeting", "MeetingFeatures", "VideoService", "open_video"]


def open_video(url: str, *, region: str | None = None) -> VideoService:
    parts = urlsplit(url)
    if parts.scheme == "local":
        from tpm.adapters.video.local import LocalVideo

        return LocalVideo()
    if parts.scheme == "chime":
        from tpm.adapters.video.chime import ChimeVideo

        query = parse_qs(parts.query)
        control = (query.get("region") or [""])[0] or region
        if not control:
            raise ValueError("TPM_VIDEO chime:// needs ?region=<control region>")
        return ChimeVideo(region=control)
    raise ValueError("TPM_VIDEO must be local:// or chime://?region=...")
