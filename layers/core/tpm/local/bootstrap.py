"""First start of `tpm dev`: data dir, local keys, and a clearly synthetic demo practice."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tpm.config import Settings
from tpm.local.demo import seed_demo_people
from tpm.local.demo_practice import seed_demo_practice
from tpm.runtime import Runtime
from tpm.services.practices import create_practice, get_practice, practice_id_for_slug

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Practice (synthetic data)"
DEMO_TIMEZONE = "America/Chicago"


def local_settings(
    data_dir: Path,
    environment: Literal["local", "test"] = "local",
    portal_url: str = "http://127.0.0.1:8000/",
    sign_in_attempts_per_address: int = 50,
) -> Settings:
    data_dir = data_dir.resolve()
    return Settings(
        store_url=f"sqlite:///{data_dir / 'tpm.db'}",
        keys_url=f"local:///{data_dir / 'keys'}",
        identity_url=f"local:///{data_dir / 'identity'}",
        audit_url=f"local:///{data_dir / 'audit'}",
        files_url=f"local:///{data_dir / 'files'}",
        # `tpm dev`'s outbox stands in for the practice's email/SMS provider (AWS) and asks
        # the business associate register before keeping a message, as the real one would;
        # tests keep messages without asking unless they say otherwise.
        notify_url="outbox://?vendor=aws" if environment == "local" else "outbox://",
        clearinghouse_url=f"local:///{data_dir / 'clearinghouse'}?simulate=1",
        data_dir=data_dir,
        environment=environment,
        portal_url=portal_url,
        sign_in_attempts_per_address=sign_in_attempts_per_address,
    )


def export_settings(settings: Settings) -> None:
    """Handlers read settings from the environment (as in Lambda): set it before they load."""
    os.environ["TPM_STORE"] = settings.store_url
    os.environ["TPM_KEYS"] = settings.keys_url
    os.environ["TPM_IDENTITY"] = settings.identity_url
    os.environ["TPM_AUDIT"] = settings.audit_url
    os.environ["TPM_FILES"] = settings.files_url
    os.environ["TPM_CLEARINGHOUSE"] = settings.clearinghouse_url
    os.environ["TPM_VIDEO"] = settings.video_url
    os.environ["TPM_NOTIFY"] = settings.notify_url
    os.environ["TPM_WORKFLOWS"] = settings.workflows_url
    os.environ["TPM_DATA_DIR"] = str(settings.data_dir)
    os.environ["TPM_ENV"] = settings.environment
    os.environ["TPM_PORTAL_URL"] = settings.portal_url
    os.environ["TPM_SIGN_IN_ATTEMPTS_PER_ADDRESS"] = str(settings.sign_in_attempts_per_address)
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tpm-dev")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "tpm")


def prepare_data_dir(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)


@dataclass(frozen=True)
class DemoInfo:
    practice_id: str
    created: bool


def ensure_demo_practice(runtime: Runtime, *, with_working_data: bool = True) -> DemoInfo:
    """The demo practice, created on first use: its people, and (unless asked not to) its
    working data — appointments, notes, measures, documents (tpm.local.demo_practice).
    Operator tests that count records start from the people alone."""
    existing = practice_id_for_slug(runtime.store, DEMO_SLUG)
    if existing is not None:
        get_practice(runtime.store, existing)
        return DemoInfo(existing, created=False)
    practice = create_practice(
        runtime.store, runtime.clock, name=DEMO_NAME, slug=DEMO_SLUG, timezone=DEMO_TIMEZONE
    )
    staff = seed_demo_people(runtime, practice.id, register=True)
    if with_working_data:
        seed_demo_practice(runtime, practice.id, staff)
    return DemoInfo(practice.id, created=True)
