"""`tpm users …` against a real local data directory: effects seen through the same
repositories and services the API uses, and every action in the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.operator_cli import OperatorCli, operator_cli

from tpm.clock import SystemClock
from tpm.domain.practice import PracticeSettings
from tpm.domain.users import LOCKOUT_THRESHOLD, User, UserStatus
from tpm.local.demo import DEMO_ACCOUNTS, DEMO_PATIENT
from tpm.repositories.sessions import SessionRepository
from tpm.repositories.users import UserRepository
from tpm.security.audit_chain import ChainedEvent
from tpm.security.principal import Role
from tpm.services.authentication import Authentication, InvalidCredentials, RequestMeta, Tokens
from tpm.services.practices import create_practice
from tpm.services.users import accept_invitation

ACCOUNTS = {a.role: a for a in (*DEMO_ACCOUNTS, DEMO_PATIENT)}
CLINICIAN = ACCOUNTS[Role.CLINICIAN]
META = RequestMeta(source_ip="127.0.0.1", user_agent="pytest", request_id="req-test")
NEW_PASSWORD = "lantern-orbit-thistle-94"


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[OperatorCli]:
    with operator_cli(tmp_path, monkeypatch, capsys) as cli:
        yield cli


def user(cli: OperatorCli, email: str, practice_id: str | None = None) -> User:
    with cli.practice(practice_id) as (runtime, store):
        found = UserRepository(store, runtime.cipher).find_by_email(email)
    assert found is not None
    return found


def sign_in(cli: OperatorCli, email: str, password: str) -> Tokens:
    with cli.runtime() as runtime:
        tokens = Authentication(runtime).login("demo", email, password, META)
    assert isinstance(tokens, Tokens)
    return tokens


def newest(cli: OperatorCli, practice_id: str | None = None) -> ChainedEvent:
    return cli.events(practice_id)[-1]


def assert_by_operator(event: ChainedEvent, action: str, resource_id: str = "") -> None:
    assert (event.actor_kind, event.actor_id, event.action) == ("system", "operator-cli", action)
    assert event.resource_id == resource_id
    assert event.request_id.startswith("cli-")


# ---- reads --------------------------------------------------------------------------------


def test_list_shows_staff_and_leaves_patient_accounts_out_unless_asked(cli: OperatorCli) -> None:
    result = cli("users", "list")
    assert result.code == 0, result.err
    for account in DEMO_ACCOUNTS:
        assert account.email in result.out
    assert DEMO_PATIENT.email not in result.out
    assert "7 account(s)" in result.out
    assert "1 patient portal account(s) not shown" in result.out
    assert_by_operator(newest(cli), "user.list")
    # WHEN patient accounts are asked for THEN they are listed and the read says so
    with_patients = cli("users", "list", "--patients")
    assert DEMO_PATIENT.email in with_patients.out
    assert newest(cli).reason_code == "with_patients"


def test_show_prints_the_account_without_secrets_and_is_audited(cli: OperatorCli) -> None:
    result = cli("users", "show", CLINICIAN.email)
    assert result.code == 0, result.err
    shown = user(cli, CLINICIAN.email)
    assert shown.id in result.out
    assert "by bootstrap: - -> clinician" in result.out
    assert "argon2" not in result.out  # the password hash is never printed
    assert_by_operator(newest(cli), "user.read", shown.id)


def test_an_unknown_email_fails_without_repeating_the_address(cli: OperatorCli) -> None:
    before = len(cli.events())
    result = cli("users", "show", "nobody@example.test")
    assert result.code == 1
    assert "no account with that email" in result.err
    assert "nobody@example.test" not in result.err
    assert len(cli.events()) == before


# ---- invite -------------------------------------------------------------------------------


def test_invite_prints_a_token_once_that_activates_the_account(cli: OperatorCli) -> None:
    # WHEN the operator invites a clinician who is also a supervisor
    result = cli(
        "users", "invite", "New.Person@Example.test", "--name", "New Person",
        "--role", "clinician", "--role", "supervisor", "--credentials", "LPC",
    )  # fmt: skip
    assert result.code == 0, result.err
    # THEN the account is stored as invited with both roles, and the event names it
    invited = user(cli, "new.person@example.test")
    assert invited.status is UserStatus.INVITED
    assert invited.roles == frozenset({Role.CLINICIAN, Role.SUPERVISOR})
    assert invited.invited_by == "operator-cli"
    assert_by_operator(newest(cli), "user.invite", invited.id)
    # AND the printed token is the one that lets the person set a password
    token = result.out.split("hand it over securely):\n", 1)[1].split()[0]
    with cli.runtime() as runtime:
        active = accept_invitation(runtime, "demo", token, NEW_PASSWORD, META)
    assert active.status is UserStatus.ACTIVE
    assert sign_in(cli, "new.person@example.test", NEW_PASSWORD).session_id


def test_invite_waits_for_a_second_admin_where_the_practice_requires_it(cli: OperatorCli) -> None:
    with cli.runtime() as runtime:
        strict = create_practice(
            runtime.store,
            SystemClock(),
            name="Strict Practice",
            slug="strict",
            timezone="UTC",
            settings=PracticeSettings(require_provisioning_approval=True),
        )
    result = cli(
        "users", "invite", "pending@example.test", "--name", "Pending Person",
        "--role", "biller", "--practice", "strict",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "invitation token" not in result.out  # none exists until an admin approves
    assert "second administrator" in result.out
    pending = user(cli, "pending@example.test", strict.id)
    assert pending.status is UserStatus.PENDING_APPROVAL
    event = newest(cli, strict.id)
    assert_by_operator(event, "user.invite", pending.id)
    assert event.reason_code == "pending_approval"


def test_the_operator_may_make_an_owner(cli: OperatorCli) -> None:
    result = cli(
        "users", "invite", "co.owner@example.test", "--name", "Co Owner", "--role", "owner"
    )
    assert result.code == 0, result.err
    assert user(cli, "co.owner@example.test").roles == frozenset({Role.OWNER})


def test_invite_refuses_an_existing_email_and_writes_nothing(cli: OperatorCli) -> None:
    before = len(cli.events())
    result = cli("users", "invite", CLINICIAN.email, "--name", "Again", "--role", "clinician")
    assert result.code == 1
    assert "already exists" in result.err
    assert len(cli.events()) == before


def test_invite_refuses_an_invalid_address(cli: OperatorCli) -> None:
    result = cli("users", "invite", "not-an-address", "--name", "X", "--role", "clinician")
    assert result.code == 1
    assert "not valid: email" in result.err


def test_patient_accounts_cannot_be_invited_here(cli: OperatorCli) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("users", "invite", "p@example.test", "--name", "P", "--role", "patient")
    assert exit_info.value.code == 2


# ---- roles --------------------------------------------------------------------------------


def test_set_roles_replaces_roles_with_history_and_audit(cli: OperatorCli) -> None:
    before = user(cli, CLINICIAN.email)
    result = cli("users", "set-roles", CLINICIAN.email, "--role", "clinician", "--role", "biller")
    assert result.code == 0, result.err
    after = user(cli, CLINICIAN.email)
    assert after.roles == frozenset({Role.CLINICIAN, Role.BILLER})
    assert after.version == before.version + 1
    assert_by_operator(newest(cli), "user.update_roles", after.id)
    with cli.practice() as (runtime, store):
        history = UserRepository(store, runtime.cipher).role_history(after.id)
    assert history[-1]["by"] == "operator-cli"
    assert history[-1]["after"] == ["biller", "clinician"]
    # AND setting the same roles again changes (and records) nothing
    count = len(cli.events())
    again = cli("users", "set-roles", CLINICIAN.email, "--role", "biller", "--role", "clinician")
    assert again.code == 0
    assert "no change" in again.out
    assert len(cli.events()) == count


def test_set_roles_refuses_a_patient_account(cli: OperatorCli) -> None:
    result = cli("users", "set-roles", DEMO_PATIENT.email, "--role", "clinician")
    assert result.code == 1
    assert "patient's record" in result.err
    assert user(cli, DEMO_PATIENT.email).roles == frozenset({Role.PATIENT})


# ---- deactivation, sessions, lockout ---------------------------------------------------------


def test_deactivate_ends_live_sessions_and_refuses_the_next_sign_in(cli: OperatorCli) -> None:
    tokens = sign_in(cli, CLINICIAN.email, CLINICIAN.password)
    result = cli("users", "deactivate", CLINICIAN.email)
    assert result.code == 0, result.err
    assert "1 live session(s) ended" in result.out
    gone = user(cli, CLINICIAN.email)
    assert gone.status is UserStatus.DEACTIVATED
    with cli.practice() as (_, store):
        session = SessionRepository(store).get(gone.id, tokens.session_id)
    assert session is not None
    assert session.revoked_reason == "deactivated"
    assert_by_operator(newest(cli), "user.deactivate", gone.id)
    with pytest.raises(InvalidCredentials):
        sign_in(cli, CLINICIAN.email, CLINICIAN.password)
    # AND a second deactivation is a no-op
    count = len(cli.events())
    assert "already deactivated" in cli("users", "deactivate", CLINICIAN.email).out
    assert len(cli.events()) == count


def test_sessions_are_listed_and_ended_together(cli: OperatorCli) -> None:
    first = sign_in(cli, CLINICIAN.email, CLINICIAN.password)
    second = sign_in(cli, CLINICIAN.email, CLINICIAN.password)
    listing = cli("users", "sessions", CLINICIAN.email)
    assert listing.code == 0, listing.err
    assert first.session_id in listing.out
    assert second.session_id in listing.out
    assert "2 session(s), 2 live" in listing.out
    clinician = user(cli, CLINICIAN.email)
    assert_by_operator(newest(cli), "user.sessions.read", clinician.id)
    # WHEN the operator ends them
    ended = cli("users", "end-sessions", CLINICIAN.email)
    assert ended.code == 0, ended.err
    assert "2 live session(s) ended" in ended.out
    with cli.practice() as (_, store):
        sessions = SessionRepository(store).list_for_user(clinician.id)
    assert {s.revoked_reason for s in sessions} == {"revoked_by_operator"}
    event = newest(cli)
    assert_by_operator(event, "user.sessions.revoke", clinician.id)
    assert event.reason_code == "revoked_by_operator"
    assert "2 session(s), 0 live" in cli("users", "sessions", CLINICIAN.email).out


def test_unlock_clears_a_lockout(cli: OperatorCli) -> None:
    # GIVEN an account locked by repeated wrong passwords
    for _ in range(LOCKOUT_THRESHOLD):
        with pytest.raises(InvalidCredentials):
            sign_in(cli, CLINICIAN.email, "wrong-password-entirely")
    locked = user(cli, CLINICIAN.email)
    assert locked.locked_until is not None
    with pytest.raises(InvalidCredentials):
        sign_in(cli, CLINICIAN.email, CLINICIAN.password)
    # WHEN the operator unlocks it
    result = cli("users", "unlock", CLINICIAN.email)
    assert result.code == 0, result.err
    # THEN the lockout is gone, recorded, and the right password works again
    unlocked = user(cli, CLINICIAN.email)
    assert (unlocked.locked_until, unlocked.failed_logins) == (None, 0)
    assert_by_operator(newest(cli), "user.unlock", unlocked.id)
    assert sign_in(cli, CLINICIAN.email, CLINICIAN.password).session_id
    # AND unlocking an account that is not locked writes nothing
    count = len(cli.events())
    assert "is not locked" in cli("users", "unlock", CLINICIAN.email).out
    assert len(cli.events()) == count


# ---- reactivation and the last owner --------------------------------------------------------


def test_reactivate_lets_a_deactivated_account_sign_in_again(cli: OperatorCli) -> None:
    assert cli("users", "deactivate", CLINICIAN.email).code == 0
    # WHEN the operator reactivates it THEN it signs in again, and the change is audited
    result = cli("users", "reactivate", CLINICIAN.email)
    assert result.code == 0, result.err
    back = user(cli, CLINICIAN.email)
    assert back.status is UserStatus.ACTIVE
    event = newest(cli)
    assert_by_operator(event, "user.deactivate", back.id)
    assert event.reason_code == "reactivated"
    assert sign_in(cli, CLINICIAN.email, CLINICIAN.password).session_id
    # AND an active account is refused, with nothing written
    count = len(cli.events())
    refused = cli("users", "reactivate", CLINICIAN.email)
    assert refused.code == 1
    assert "not deactivated" in refused.err
    assert len(cli.events()) == count


def _require_approval(cli: OperatorCli) -> None:
    from tpm.services.practices import get_practice, update_op

    with cli.practice() as (runtime, store):
        practice = get_practice(runtime.store, cli.practice_id)
        settings = practice.settings.model_copy(update={"require_provisioning_approval": True})
        store.transact(
            [
                update_op(
                    practice.model_copy(
                        update={"settings": settings, "version": practice.version + 1}
                    )
                )
            ]
        )


def test_reactivate_waits_for_an_administrator_where_the_practice_requires_approval(
    cli: OperatorCli,
) -> None:
    assert cli("users", "deactivate", CLINICIAN.email).code == 0
    _require_approval(cli)
    result = cli("users", "reactivate", CLINICIAN.email)
    assert result.code == 0, result.err
    assert "approve" in result.out
    waiting = user(cli, CLINICIAN.email)
    assert waiting.status is UserStatus.DEACTIVATED
    assert waiting.reactivation_requested_by == "operator-cli"
    assert newest(cli).reason_code == "reactivation_pending"
    with pytest.raises(InvalidCredentials):
        sign_in(cli, CLINICIAN.email, CLINICIAN.password)


def test_the_last_active_owner_keeps_the_owner_role(cli: OperatorCli) -> None:
    owner = ACCOUNTS[Role.OWNER]
    count = len(cli.events())
    # WHEN the operator removes the only owner's role, or deactivates them THEN both refuse
    demoted = cli("users", "set-roles", owner.email, "--role", "admin")
    assert demoted.code == 1
    assert "last active owner" in demoted.err
    gone = cli("users", "deactivate", owner.email)
    assert gone.code == 1
    assert "last active owner" in gone.err
    assert Role.OWNER in user(cli, owner.email).roles
    assert user(cli, owner.email).status is UserStatus.ACTIVE
    assert len(cli.events()) == count
    # AND with a second active owner, the first may go
    assert cli("users", "set-roles", CLINICIAN.email, "--role", "owner").code == 0
    assert cli("users", "set-roles", owner.email, "--role", "admin").code == 0
    assert user(cli, owner.email).roles == frozenset({Role.ADMIN})
