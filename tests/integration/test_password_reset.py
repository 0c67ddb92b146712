"""A forgotten password, reset by an emailed single-use link: the same routes and answers
with the local provider and with Cognito (moto). Asking never tells whether an address has
an account; the link is the account's newest, fresh, and works once; resetting ends every
session and clears a lockout, and the second factor stays."""

from __future__ import annotations

import json

import pytest
import test_authentication as auth_suite
from test_authentication import PASSWORD, Api

from tpm.adapters.notify.outbox import OutboxNotifier
from tpm.domain.users import UserStatus
from tpm.errors import Unauthenticated
from tpm.repositories.users import UserRepository
from tpm.security.audit import read_events, read_head
from tpm.security.audit_chain import Outcome
from tpm.security.principal import Role

# The authentication suite's fixture: the local provider and Cognito (moto), same routes.
api = auth_suite.api

NEW_PASSWORD = "Saffron-Lantern-Orchard-71"
EMAIL = "casey@example.test"


def ask(api: Api, email: str) -> int:
    response = api.call(
        "POST", "/v1/auth/password-reset", body={"practice": "auth-suite", "email": email}
    )
    assert json.loads(response.body) == {"status": "accepted"}
    return response.status


def confirm(api: Api, token: str, password: str = NEW_PASSWORD) -> int:
    body = {"practice": "auth-suite", "token": token, "new_password": password}
    return api.call("POST", "/v1/auth/password-reset/confirm", body=body).status


def mails(api: Api) -> list[str]:
    notifier = api.runtime.notifier
    assert isinstance(notifier, OutboxNotifier)
    return [e.text for e in notifier.sent if e.to == EMAIL]


def token_of(text: str) -> str:
    return text.split("#password-reset=", 1)[1].split()[0]


def actions(api: Api) -> list[tuple[str, Outcome, str | None]]:
    store = api.runtime.store.practice(api.practice_id)
    head = read_head(store)
    assert head is not None
    return [
        (e.action, e.outcome, e.reason_code)
        for e in read_events(store, 1, head.seq)
        if e.action.startswith("auth.password_reset")
    ]


def test_a_forgotten_password_is_reset_from_the_emailed_link(api: Api) -> None:
    user = api.add_user(Role.CLINICIAN, EMAIL)
    session = api.sign_in(EMAIL, PASSWORD)
    # WHEN the clinician asks for a link THEN one email arrives, with the link to the staff
    # app; the token is only in the fragment, and nothing about patients is in it
    assert ask(api, EMAIL) == 202
    [text] = mails(api)
    assert "/staff/?practice=auth-suite#password-reset=" in text
    assert "Auth Suite Practice" in text
    # WHEN a too-weak password is offered THEN 422 and the link still works
    assert confirm(api, token_of(text), "password") == 422
    assert confirm(api, token_of(text)) == 204
    # THEN the old password is gone, the new one works, and the open session has ended
    with pytest.raises(Unauthenticated):
        api.sign_in(EMAIL, PASSWORD)
    assert api.sign_in(EMAIL, NEW_PASSWORD)
    assert api.call("GET", "/v1/me", session).status == 401
    # AND the link worked once only
    assert confirm(api, token_of(text), "Another-Quite-Long-Phrase-52") == 404
    assert ("auth.password_reset", Outcome.ALLOWED, "password_reset") in actions(api)
    assert ("auth.password_reset", Outcome.DENIED, "invalid_token") in actions(api)
    assert user.id  # the account is the same one (nothing re-created)


def test_asking_never_tells_whether_an_account_exists(api: Api) -> None:
    api.add_user(Role.CLINICIAN, EMAIL)
    # Unknown address, unknown practice, known address: the same 202 and body.
    assert ask(api, "nobody@example.test") == 202
    other = api.call(
        "POST", "/v1/auth/password-reset", body={"practice": "no-such-place", "email": EMAIL}
    )
    assert (other.status, json.loads(other.body)) == (202, {"status": "accepted"})
    assert ask(api, EMAIL) == 202
    assert len(mails(api)) == 1
    assert ("auth.password_reset_request", Outcome.DENIED, "unknown_user") in actions(api)
    # AND asking again and again mails at most three times an hour, still answering 202
    for _ in range(4):
        assert ask(api, EMAIL) == 202
    assert len(mails(api)) == 3
    assert ("auth.password_reset_request", Outcome.DENIED, "rate_limited") in actions(api)


def test_only_the_newest_fresh_link_works(api: Api) -> None:
    api.add_user(Role.CLINICIAN, EMAIL)
    ask(api, EMAIL)
    ask(api, EMAIL)
    first, second = (token_of(t) for t in mails(api))
    assert confirm(api, first) == 404  # replaced by the newer one
    api.clock.advance(minutes=31)
    assert confirm(api, second) == 404  # expired
    assert api.sign_in(EMAIL, PASSWORD)  # nothing changed


def test_a_deactivated_account_gets_no_link(api: Api) -> None:
    user = api.add_user(Role.CLINICIAN, EMAIL)
    store = api.runtime.store.practice(api.practice_id)
    repo = UserRepository(store, api.runtime.cipher)
    api.runtime.store.practice(api.practice_id).transact(
        [repo.update_op(user.bump(status=UserStatus.DEACTIVATED))]
    )
    assert ask(api, EMAIL) == 202
    assert mails(api) == []
    assert ("auth.password_reset_request", Outcome.DENIED, "inactive") in actions(api)


def test_resetting_clears_a_lockout_but_keeps_the_second_factor(api: Api) -> None:
    user = api.add_user(Role.ADMIN, EMAIL)  # an admin: TOTP enrolled
    for _ in range(12):
        api.call(
            "POST",
            "/v1/auth/login",
            body={"practice": "auth-suite", "email": EMAIL, "password": "wrong-but-long-1"},
        )
    store = api.runtime.store.practice(api.practice_id)
    locked = UserRepository(store, api.runtime.cipher).get(user.id)
    assert locked is not None
    assert locked.locked(api.clock.now())
    ask(api, EMAIL)
    assert confirm(api, token_of(mails(api)[0])) == 204
    # THEN the password step passes again, and the code is still asked for
    response = api.call(
        "POST",
        "/v1/auth/login",
        body={"practice": "auth-suite", "email": EMAIL, "password": NEW_PASSWORD},
    )
    assert response.status == 200, response.body
    assert json.loads(response.body).get("mfa_required") is True
