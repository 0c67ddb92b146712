"""What every operator command shares: where the data is, which practice, who is acting.

Operator commands act as the SystemActor "operator-cli": there is no signed-in user, but
every change (and every read of account data) is still written to the practice's audit
trail, with one request id per invocation so its events can be found together.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tpm.adapters.store.base import Operation, PracticeStore
from tpm.config import Settings, get_settings
from tpm.errors import TpmError
from tpm.local.bootstrap import DEMO_SLUG, export_settings, local_settings
from tpm.runtime import Runtime, build_runtime
from tpm.security.audit_chain import AuditEvent, ChainedEvent, Outcome
from tpm.security.principal import SystemActor
from tpm.services.practices import practice_id_for_slug

OPERATOR = "operator-cli"

Handler = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A problem the operator can fix (wrong data dir, unknown practice or user)."""


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=Path(".tpm"), help="local data directory (default .tpm)"
    )


def add_target(parser: argparse.ArgumentParser) -> None:
    add_data_dir(parser)
    parser.add_argument("--practice", default=DEMO_SLUG, help="practice slug (default demo)")


def operator_settings(data_dir: Path) -> Settings:
    """Local settings from the data dir when TPM_ENV is local (or unset); otherwise the
    environment's (a deployed store and keys), as `tpm keys rotate` always did."""
    settings = get_settings()
    if settings.environment != "local":
        return settings
    if not (data_dir / "tpm.db").is_file():
        # Opening would create an empty database and new keys: almost always a typo.
        raise CliError(f"no tpm data in {data_dir} (start `tpm dev` once, or pass --data-dir)")
    settings = local_settings(data_dir)
    export_settings(settings)
    get_settings.cache_clear()
    return settings


@contextmanager
def open_runtime(data_dir: Path) -> Iterator[Runtime]:
    runtime = build_runtime(operator_settings(data_dir))
    try:
        yield runtime
    finally:
        runtime.store.close()


@dataclass
class Target:
    """One practice, opened for an operator command."""

    runtime: Runtime
    practice_id: str
    slug: str
    request_id: str

    @cached_property
    def store(self) -> PracticeStore:
        return self.runtime.store.practice(self.practice_id)

    @property
    def actor(self) -> SystemActor:
        return SystemActor(OPERATOR, self.practice_id, self.request_id)

    def event(
        self,
        action: str,
        resource_kind: str,
        resource_id: str = "",
        *,
        reason_code: str | None = None,
        outcome: Outcome = Outcome.ALLOWED,
    ) -> AuditEvent:
        return AuditEvent.for_system(
            self.actor,
            action=action,
            resource_kind=resource_kind,
            resource_id=resource_id,
            reason_code=reason_code,
            outcome=outcome,
        )

    def record(
        self,
        action: str,
        resource_kind: str,
        resource_id: str = "",
        *,
        reason_code: str | None = None,
    ) -> ChainedEvent:
        """Audit a read, or an action that changes no record."""
        return self.runtime.audit.record(
            self.store, self.event(action, resource_kind, resource_id, reason_code=reason_code)
        )

    def write(
        self,
        build_ops: Callable[[], list[Operation]],
        action: str,
        resource_kind: str,
        resource_id: str = "",
        *,
        reason_code: str | None = None,
    ) -> ChainedEvent:
        """The change and its audit event in one transaction, or neither."""
        return self.runtime.audit.write_with_audit(
            self.store,
            build_ops,
            self.event(action, resource_kind, resource_id, reason_code=reason_code),
        )


@contextmanager
def open_target(args: argparse.Namespace) -> Iterator[Target]:
    with open_runtime(args.data_dir) as runtime:
        practice_id = practice_id_for_slug(runtime.store, args.practice)
        if practice_id is None:
            raise CliError(f"no practice with slug {args.practice!r}")
        yield Target(runtime, practice_id, args.practice, f"cli-{uuid.uuid4().hex}")


def run(handler: Handler, args: argparse.Namespace) -> int:
    """Runs a command; expected failures become one line on stderr and exit status 1."""
    try:
        return handler(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except TpmError as exc:
        # Domain messages never carry submitted values, so they are safe to show.
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
    return 1
