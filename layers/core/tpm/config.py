"""Settings: the one place that reads the environment.

Adapters are chosen from these URLs, never by `if local:` branches in domain code:
  TPM_STORE  sqlite:///abs/path/tpm.db | dynamodb://TableName
  TPM_KEYS   local:///abs/path/keys    | kms://alias/name (or a key id / ARN)
  TPM_IDENTITY local:///abs/path/identity | cognito://<user pool id>?client_id=<id>
  TPM_AUDIT  local:///abs/path/audit | aws://<bucket>?kms_key=<arn>
             (where the checkpoint signing key and the sealed checkpoint copies live)
  TPM_FILES  local:///abs/path/files | s3://<bucket>?kms_key=<arn>   (document files)
  TPM_VIDEO  local:// | chime://?region=<control region>   (telehealth media)
  TPM_WORKFLOWS local://[/abs/checkout] | stepfunctions://?prefix=<state machine ARN prefix>
             (state machines: the local runner, or Step Functions; tpm.adapters.workflows)
  TPM_CLEARINGHOUSE none:// | local:///abs/path[?simulate=1]   (billing: 837P out, 999/277CA/835 in)
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    store_url: str = Field(default="sqlite:///.tpm/tpm.db")
    keys_url: str = Field(default="local:///.tpm/keys")
    identity_url: str = Field(default="local:///.tpm/identity")
    audit_url: str = Field(default="local:///.tpm/audit")
    token_issuer: str = "tpm-local"  # noqa: S105 - a claim value, not a secret
    token_audience: str = "tpm-api"  # noqa: S105
    data_dir: Path = Field(default=Path(".tpm"))
    environment: Literal["local", "test", "aws"] = "local"
    # API Gateway REST caps payloads at 10 MB; we accept far less for JSON routes.
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=10_485_760)
    # Data-key cache: bounded and time-limited so KMS calls stay rare but keys age out.
    data_key_cache_size: int = Field(default=256, ge=1, le=100_000)
    data_key_cache_seconds: int = Field(default=300, ge=1, le=86_400)
    data_key_max_age_days: int = Field(default=30, ge=1, le=3650)
    aws_region: str | None = None
    # Sign-in attempts per source address per 5 minutes (on top of per-account lockout).
    # A practice whose whole staff signs in from behind one office NAT may need more.
    sign_in_attempts_per_address: int = Field(default=50, ge=5, le=100_000)
    portal_url: str = "http://127.0.0.1:8000/"
    notify_url: str = Field(default="outbox://")
    files_url: str = Field(default="local:///.tpm/files")
    # The clearinghouse adapter (billing): none:// where none is configured.
    clearinghouse_url: str = Field(default="none://")
    video_url: str = Field(default="local://")
    workflows_url: str = Field(default="local://")
    # The portal edge's X-Tpm-Edge value (tpm.api.context.client_address); empty: none.
    edge_secret: str = Field(default="", repr=False)
    # The SNS topic two-way SMS publishes to (POST /v1/sms/inbound accepts only messages
    # signed by SNS for exactly this topic); empty: the webhook refuses everything.
    sms_topic_arn: str = Field(
        default="", pattern=r"^(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256})?$"
    )

    @field_validator("store_url")
    @classmethod
    def _store_scheme(cls, v: str) -> str:
        if not v.startswith(("sqlite:///", "dynamodb://")):
            raise ValueError("TPM_STORE must be sqlite:///path or dynamodb://table")
        return v

    @field_validator("identity_url")
    @classmethod
    def _identity_scheme(cls, v: str) -> str:
        if not v.startswith(("local:///", "cognito://")):
            raise ValueError("TPM_IDENTITY must be local:///path or cognito://pool?client_id=...")
        return v

    @field_validator("audit_url")
    @classmethod
    def _audit_scheme(cls, v: str) -> str:
        if not v.startswith(("local:///", "aws://")):
            raise ValueError("TPM_AUDIT must be local:///path or aws://bucket")
        return v

    @field_validator("notify_url")
    @classmethod
    def _notify_scheme(cls, v: str) -> str:
        if not (v == "outbox://" or v.startswith(("outbox://?", "aws://?"))):
            raise ValueError("TPM_NOTIFY must be outbox:// or aws://?from=...")
        return v

    @field_validator("files_url")
    @classmethod
    def _files_scheme(cls, v: str) -> str:
        if not v.startswith(("local:///", "s3://")):
            raise ValueError("TPM_FILES must be local:///path or s3://bucket?kms_key=arn")
        return v

    @field_validator("clearinghouse_url")
    @classmethod
    def _clearinghouse_scheme(cls, v: str) -> str:
        if not v.startswith(("none://", "local:///")):
            raise ValueError("TPM_CLEARINGHOUSE must be none:// or local:///path[?simulate=1]")
        return v

    @field_validator("video_url")
    @classmethod
    def _video_scheme(cls, v: str) -> str:
        if not (v == "local://" or v.startswith("chime://")):
            raise ValueError("TPM_VIDEO must be local:// or chime://?region=...")
        return v

    @field_validator("workflows_url")
    @classmethod
    def _workflows_scheme(cls, v: str) -> str:
        if not (v.startswith("local://") or v.startswith("stepfunctions://?prefix=arn:")):
            raise ValueError("TPM_WORKFLOWS must be local:// or stepfunctions://?prefix=<arn>")
        return v

    @field_validator("keys_url")
    @classmethod
    def _keys_scheme(cls, v: str) -> str:
        if not v.startswith(("local:///", "kms://")):
            raise ValueError("TPM_KEYS must be local:///path or kms://key")
        return v


_ENV_NAMES = {
    "store_url": "TPM_STORE",
    "keys_url": "TPM_KEYS",
    "identity_url": "TPM_IDENTITY",
    "audit_url": "TPM_AUDIT",
    "token_issuer": "TPM_TOKEN_ISSUER",
    "token_audience": "TPM_TOKEN_AUDIENCE",
    "data_dir": "TPM_DATA_DIR",
    "environment": "TPM_ENV",
    "max_body_bytes": "TPM_MAX_BODY_BYTES",
    "data_key_cache_size": "TPM_DATA_KEY_CACHE_SIZE",
    "data_key_cache_seconds": "TPM_DATA_KEY_CACHE_SECONDS",
    "data_key_max_age_days": "TPM_DATA_KEY_MAX_AGE_DAYS",
    "aws_region": "AWS_REGION",
    "sign_in_attempts_per_address": "TPM_SIGN_IN_ATTEMPTS_PER_ADDRESS",
    "portal_url": "TPM_PORTAL_URL",
    "notify_url": "TPM_NOTIFY",
    "files_url": "TPM_FILES",
    "clearinghouse_url": "TPM_CLEARINGHOUSE",
    "video_url": "TPM_VIDEO",
    "workflows_url": "TPM_WORKFLOWS",
    "edge_secret": "TPM_EDGE_SECRET",
    "sms_topic_arn": "TPM_SMS_TOPIC_ARN",
}


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {field: env[name] for field, name in _ENV_NAMES.items() if env.get(name)}
    return Settings.model_validate(values)


@cache
def get_settings() -> Settings:
    """Validated once per process (cold start); tests call `get_settings.cache_clear()`."""
    return settings_from_env()
