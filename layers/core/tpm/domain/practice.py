"""A practice (tenant) and its settings. Pure: no I/O."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tpm.domain.messaging_settings import MessagingSettings
from tpm.domain.telehealth import TelehealthPolicy
from tpm.security.audit_chain import AuditSettings
from tpm.security.passwords import PasswordPolicy

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


class PracticeSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    session_idle_minutes: int = Field(default=15, ge=1, le=240)
    session_max_hours: int = Field(default=12, ge=1, le=72)
    require_provisioning_approval: bool = False
    audit: AuditSettings = Field(default_factory=AuditSettings)
    break_glass_minutes: int = Field(default=60, ge=5, le=480)
    # A note signed this long after its service date is flagged as a late entry.
    late_entry_hours: int = Field(default=72, ge=1, le=720)
    password_policy: PasswordPolicy = Field(default_factory=PasswordPolicy)
    # Secure messaging: business hours, response time and escalation, auto-reply,
    # retention, notification wording (tpm.domain.messaging_settings).
    messaging: MessagingSettings = Field(default_factory=MessagingSettings)
    # Telehealth: recording / screen sharing allowed at all, video resolution, guests,
    # the Chime media region (docs/telehealth.md).
    telehealth: TelehealthPolicy = Field(default_factory=TelehealthPolicy)
    # Proxy portal access: a parent-of-a-minor grant ends by itself on the patient's
    # birthday at this age (state law varies; tpm.domain.proxies).
    age_of_majority: int = Field(default=18, ge=16, le=21)


class Practice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str = Field(min_length=1, max_length=120)
    slug: str
    timezone: str
    created_at: datetime
    settings: PracticeSettings = Field(default_factory=PracticeSettings)
    version: int = 1

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("slug: lowercase letters, digits and dashes")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError("unknown IANA time zone")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
