"""`tpm practice create` and the bootstrap function: a practice and its owner's
invitation, idempotent and audited, the same service locally and in AWS."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from support.operator_cli import OperatorCli, operator_cli

from tpm.domain.users import UserStatus
from tpm.repositories.users import UserRepository
from tpm.security.principal import Role
from tpm.services.practices import practice_id_for_slug

ROOT = Path(__file__).resolve().parents[2]
CREATE = (
    "practice",
    "create",
    "--slug",
    "riverside",
    "--name",
    "Riverside Counselling",
    "--timezone",
    "America/Chicago",
    "--owner-email",
    "olive.owner@example.test",
    "--owner-name",
    "Olive Owner",
)


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[OperatorCli]:
    with operator_cli(tmp_path, monkeypatch, capsys) as value:
        yield value


def _token(out: str) -> str:
    found = re.search(r"^  (\S{40,})$", out, re.MULTILINE)
    assert found, out
    return found.group(1)


def test_create_makes_the_practice_and_invites_its_owner_once(cli: OperatorCli) -> None:
    first = cli(*CREATE)
    assert first.code == 0, first.err
    assert "practice 'riverside'" in first.out
    assert "created" in first.out
    token = _token(first.out)
    assert "/v1/auth/accept-invitation" in first.out
    with cli.runtime() as runtime:
        practice_id = practice_id_for_slug(runtime.store, "riverside")
        assert practice_id is not None
        users = UserRepository(runtime.store.practice(practice_id), runtime.cipher)
        owner = users.find_by_email("olive.owner@example.test")
        assert owner is not None
        assert (owner.roles, owner.status) == (frozenset({Role.OWNER}), UserStatus.INVITED)
    events = cli.events(practice_id)
    assert [(e.action, e.actor_kind, e.actor_id) for e in events] == [
        ("practice.create", "system", "operator-cli"),
        ("user.invite", "system", "operator-cli"),
    ]
    # Again: the practice is found, not duplicated; a lost token is replaced.
    second = cli(*CREATE)
    assert second.code == 0, second.err
    assert "already existed" in second.out
    assert _token(second.out) != token
    assert [e.reason_code for e in cli.events(practice_id)][-1] == "reissued"
    with cli.runtime() as runtime:
        users = UserRepository(runtime.store.practice(practice_id), runtime.cipher)
        assert len(users.page(100, None)[0]) == 1


def test_create_refuses_what_it_cannot_do_and_changes_nothing(cli: OperatorCli) -> None:
    bad_zone = list(CREATE)
    bad_zone[bad_zone.index("America/Chicago")] = "Mars/Olympus"
    result = cli(*bad_zone)
    assert result.code == 1
    assert "validation_failed" in result.err
    assert cli(*CREATE).code == 0
    renamed = list(CREATE)
    renamed[renamed.index("Riverside Counselling")] = "Another Name"
    clash = cli(*renamed)
    assert clash.code == 1
    assert "another name" in clash.err
    with cli.runtime() as runtime:
        assert practice_id_for_slug(runtime.store, "riverside") is not None


def _bootstrap_module() -> ModuleType:
    path = ROOT / "functions" / "practice_bootstrap" / "app.py"
    spec = importlib.util.spec_from_file_location("tpm_functions.bootstrap_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_bootstrap_function_answers_errors_without_echoing_the_request(
    cli: OperatorCli,
) -> None:
    from tpm.local.bootstrap import export_settings, local_settings
    from tpm.runtime import build_runtime, set_runtime

    export_settings(local_settings(cli.data_dir))
    runtime = build_runtime(local_settings(cli.data_dir))
    set_runtime(runtime)
    try:
        handler: Any = _bootstrap_module().lambda_handler
        context = SimpleNamespace(aws_request_id="req-1")
        refused = handler({"slug": "Bad Slug!", "owner_email": "secret@example.test"}, context)
        assert refused["error"]["code"] == "validation_failed"
        assert "secret@example.test" not in str(refused)
        request = {
            "slug": "lakeside",
            "name": "Lakeside",
            "timezone": "UTC",
            "owner_email": "lee@example.test",
            "owner_name": "Lee",
        }
        done = handler(request, context)
        assert done["practice_created"] is True
        assert done["owner_status"] == "invited"
        assert len(done["invitation_token"]) >= 40
        events = cli.events(done["practice_id"])
        assert {(e.actor_id, e.request_id) for e in events} == {("practice-bootstrap", "req-1")}
    finally:
        runtime.store.close()
        set_runtime(None)
