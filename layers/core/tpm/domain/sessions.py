"""Sessions: server-side state behind every token, so logout, idle timeout and
deactivation take effect on the next request rather than at token expiry."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

STEP_UP_WINDOW = timedelta(minutes=10)
TOUCH_INTERVAL = timedelta(seconds=30)  # how stale last_seen may get before we write it


class Session(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    user_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # absolute lifetime
    idle_minutes: int
    auth_time: datetime
    mfa_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    refresh_hash: str | None = None
    source_ip: str = ""
    user_agent: str = ""
    version: int = 1

    def ended(self, now: datetime) -> str | None:
        """Why the session can no longer be used, or None while it is live."""
        if self.revoked_at is not None:
            return "revoked"
        if now >= self.expires_at:
            return "expired"
        if now - self.last_seen_at > timedelta(minutes=self.idle_minutes):
            return "idle"
        return None

    def recently_mfa(self, now: datetime) -> bool:
        return self.mfa_at is not None and now - self.mfa_at <= STEP_UP_WINDOW

    def needs_touch(self, now: datetime) -> bool:
        return now - self.last_seen_at >= TOUCH_INTERVAL
