"""The same token-verification contract over the local provider and Cognito (moto).

Each provider issues a real bearer token for one user (practice prc_01, clinician) the way
it would in production: the local provider signs its own; Cognito's comes from a real
admin_initiate_auth against moto's user pool (made from template.yaml's UserPool and
UserPoolClient), verified against moto's published JWKS.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws
from moto.utilities.utils import load_resource
from support.template_resources import create_user_pool

from tpm.adapters.identity import IdentityProvider
from tpm.adapters.identity.cognito import CognitoIdentity, claims_from_cognito
from tpm.adapters.identity.local import CURRENT_KEY_FILE, LocalIdentity
from tpm.clock import FixedClock
from tpm.errors import Unauthenticated
from tpm.security.principal import Role
from tpm.security.tokens import StaticJwks, TokenClaims

REGION = "us-east-1"
EMAIL = "jane.doe@example.com"
PASSWORD = "Violet-Kettle-Harbour-7"
USER_ID = "usr_01"
PRACTICE_ID = "prc_01"
LOCAL_ISSUER = "https://tpm.local"
LOCAL_AUDIENCE = "tpm-api"


@dataclass
class Harness:
    """One provider, a user signed in, and ways to build wrongly configured verifiers."""

    identity: IdentityProvider
    clock: FixedClock
    bearer: str  # what a client presents to the API
    other_use: str  # a genuine token of another kind from the same sign-in
    other_use_reason: str  # why the API verifier refuses it
    wrong_audience: IdentityProvider
    wrong_issuer: IdentityProvider
    foreign_kid: str  # the kid real tokens carry, for the same-kid forgery
    foreign_alg: str


def _local(tmp_path: Path) -> Harness:
    clock = FixedClock(datetime.now(UTC))
    identity = LocalIdentity(
        tmp_path / "keys", issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE, clock=clock
    )
    fields: dict[str, Any] = {
        "sub": USER_ID,
        "practice_id": PRACTICE_ID,
        "roles": [Role.CLINICIAN],
        "sid": "ses_01",
        "auth_time": clock.now(),
        "amr": ["pwd"],
    }
    return Harness(
        identity=identity,
        clock=clock,
        bearer=identity.signer.issue_access(**fields),
        other_use=identity.signer.issue_refresh(**fields),
        other_use_reason="wrong_token_use",
        wrong_audience=LocalIdentity(
            tmp_path / "keys", issuer=LOCAL_ISSUER, audience="other-api", clock=clock
        ),
        wrong_issuer=LocalIdentity(
            tmp_path / "keys", issuer="https://other.local", audience=LOCAL_AUDIENCE, clock=clock
        ),
        foreign_kid=identity.signer.kid,
        foreign_alg="EdDSA",
    )


def _cognito_pool(client: Any) -> tuple[str, str]:
    """The deployed pool: user-id usernames, immutable tenancy attributes, secret client."""
    pool = create_user_pool(client, "tpm-contract")
    return pool.pool_id, pool.client_id


def _cognito() -> Harness:
    client = boto3.client("cognito-idp", region_name=REGION)
    pool_id, client_id = _cognito_pool(client)
    clock = FixedClock(datetime.now(UTC))
    jwks = StaticJwks(load_resource("cognitoidp/resources/jwks-public.json"))

    def make(pool: str, app_client: str) -> CognitoIdentity:
        return CognitoIdentity(
            pool, app_client, region=REGION, client=client, jwks=jwks, clock=clock
        )

    identity = make(pool_id, client_id)
    identity.create_account(
        USER_ID,
        email=EMAIL,
        practice_id=PRACTICE_ID,
        patient_id=None,
        password=PASSWORD,
        roles=[Role.CLINICIAN],
    )
    tokens = identity.initiate_auth(USER_ID, PASSWORD)
    assert tokens.id_token is not None
    assert tokens.access_token is not None
    return Harness(
        identity=identity,
        clock=clock,
        bearer=tokens.id_token,
        other_use=tokens.access_token,
        other_use_reason="missing_claim",  # access tokens name the client in client_id, no aud
        wrong_audience=make(pool_id, "another-app-client"),
        wrong_issuer=make(f"{REGION}_someotherpool", client_id),
        foreign_kid="dummy",  # the kid moto's key is published under
        foreign_alg="RS256",
    )


@pytest.fixture(params=["local", "cognito"])
def harness(request: pytest.FixtureRequest, tmp_path: Path, aws_env: None) -> Iterator[Harness]:
    if request.param == "local":
        yield _local(tmp_path)
        return
    with mock_aws():
        yield _cognito()


def assert_rejected(
    caplog: pytest.LogCaptureFixture, verify: Callable[[str], object], token: str, reason: str
) -> None:
    """Rejected with the generic error, and for the reason the test meant."""
    caplog.clear()
    with (
        caplog.at_level(logging.INFO, logger="tpm.security.tokens"),
        pytest.raises(Unauthenticated),
    ):
        verify(token)
    assert [r.getMessage() for r in caplog.records] == [f"token_rejected reason={reason}"]


def _resign(token: str, kid: str, alg: str, **changes: Any) -> str:
    """The same claims (with changes) signed by a key the provider never published."""
    payload = {**jwt.decode(token, options={"verify_signature": False}), **changes}
    if alg == "RS256":
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def _tamper(token: str, **changes: Any) -> str:
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    payload.update(changes)
    new_body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{head}.{new_body}.{sig}"


def test_a_real_bearer_token_verifies_to_the_same_claims(harness: Harness) -> None:
    claims = harness.identity.verifier().verify(harness.bearer)
    assert claims.sub == USER_ID
    assert claims.practice_id == PRACTICE_ID
    assert claims.roles == (Role.CLINICIAN,)
    assert claims.token_use == harness.identity.api_token_use
    assert claims.sid
    assert claims.mfa_authenticated is False
    assert claims.exp > harness.clock.now()


def test_the_other_token_kind_verifies_only_with_its_own_verifier(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    verify = harness.identity.verifier().verify
    assert_rejected(caplog, verify, harness.other_use, harness.other_use_reason)
    other_use = jwt.decode(harness.other_use, options={"verify_signature": False})["token_use"]
    payload_ok = harness.identity.verifier(other_use)
    if other_use == "access" and harness.identity.name == "cognito":
        # Without the pre-token-generation trigger a Cognito access token names no practice.
        assert_rejected(caplog, payload_ok.verify, harness.other_use, "claims_invalid")
    else:
        assert payload_ok.verify(harness.other_use).sub == USER_ID


def test_expired_tokens_are_rejected(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    harness.clock.advance(hours=13)
    assert_rejected(caplog, harness.identity.verifier().verify, harness.bearer, "expired")


def test_tokens_from_before_their_issue_time_are_rejected(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.clock.advance(minutes=-5)
    assert_rejected(caplog, harness.identity.verifier().verify, harness.bearer, "not_yet_valid")


def test_wrong_audience_is_rejected(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    verify = harness.wrong_audience.verifier().verify
    assert_rejected(caplog, verify, harness.bearer, "wrong_audience")


def test_wrong_issuer_is_rejected(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    assert_rejected(caplog, harness.wrong_issuer.verifier().verify, harness.bearer, "wrong_issuer")


FORGERIES: dict[str, tuple[Callable[[Harness], str], str]] = {
    "other-practice": (
        lambda h: _tamper(h.bearer, **{"practice_id": "prc_02", "custom:practice_id": "prc_02"}),
        "bad_signature",
    ),
    "escalated-role": (
        lambda h: _tamper(h.bearer, **{"cognito:groups": ["owner"], "roles": ["owner"]}),
        "bad_signature",
    ),
    "same-kid-other-key": (
        lambda h: _resign(h.bearer, h.foreign_kid, h.foreign_alg),
        "bad_signature",
    ),
    "unknown-kid": (lambda h: _resign(h.bearer, "unknown-kid", h.foreign_alg), "unknown_kid"),
    "no-signature": (lambda h: h.bearer.rsplit(".", 1)[0] + ".", "bad_signature"),
    "two-parts": (lambda h: ".".join(h.bearer.split(".")[:2]), "malformed"),
}


@pytest.mark.parametrize(("forge", "reason"), FORGERIES.values(), ids=list(FORGERIES))
def test_forged_tokens_are_rejected(
    harness: Harness,
    forge: Callable[[Harness], str],
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert_rejected(caplog, harness.identity.verifier().verify, forge(harness), reason)


def test_a_token_from_one_provider_is_refused_by_the_other(tmp_path: Path, aws_env: None) -> None:
    local = _local(tmp_path)
    with mock_aws():
        cognito = _cognito()
        with pytest.raises(Unauthenticated):
            cognito.identity.verifier().verify(local.bearer)
    with pytest.raises(Unauthenticated):
        local.identity.verifier().verify(cognito.bearer)


# ---- provider specifics ------------------------------------------------------------------


def test_local_key_is_created_once_owner_only_and_reused(tmp_path: Path) -> None:
    first = LocalIdentity(tmp_path / "keys", issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE)
    kid = first.signer.kid
    key_file = tmp_path / "keys" / CURRENT_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    second = LocalIdentity(tmp_path / "keys", issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE)
    assert second.signer.kid == kid
    assert [k["kid"] for k in second.jwks()["keys"]] == [kid]


def test_a_readable_local_key_file_is_refused(tmp_path: Path) -> None:
    LocalIdentity(tmp_path, issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE).signer  # noqa: B018
    os.chmod(tmp_path / CURRENT_KEY_FILE, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        _ = LocalIdentity(tmp_path, issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE).signer


def test_local_rotation_keeps_old_tokens_valid_until_pruned(tmp_path: Path) -> None:
    harness = _local(tmp_path)
    identity = harness.identity
    assert isinstance(identity, LocalIdentity)
    verifier = identity.verifier()
    old_kid = identity.signer.kid
    new_kid = identity.rotate_signing_key()
    assert new_kid != old_kid
    assert [k["kid"] for k in identity.jwks()["keys"]] == [new_kid, old_kid]
    # The existing verifier picks up the new key (unknown kid -> one refresh) ...
    fresh = identity.signer.issue_access(
        sub=USER_ID,
        practice_id=PRACTICE_ID,
        roles=[Role.CLINICIAN],
        sid="ses_02",
        auth_time=harness.clock.now(),
        amr=["pwd"],
    )
    assert verifier.verify(fresh).sid == "ses_02"
    # ... and still accepts tokens signed before the rotation.
    assert verifier.verify(harness.bearer).sub == USER_ID
    assert identity.prune_retired() == 1
    with pytest.raises(Unauthenticated):
        identity.verifier().verify(harness.bearer)


def test_cognito_sign_in_failures_and_deactivation(aws_env: None) -> None:
    with mock_aws():
        harness = _cognito()
        identity = harness.identity
        assert isinstance(identity, CognitoIdentity)
        with pytest.raises(Unauthenticated) as wrong:
            identity.initiate_auth(USER_ID, PASSWORD + "x")
        assert EMAIL not in str(wrong.value)
        with pytest.raises(Unauthenticated):
            identity.initiate_auth("usr_nobody", PASSWORD)
        identity.disable(USER_ID)
        with pytest.raises(Unauthenticated):
            identity.initiate_auth(USER_ID, PASSWORD)


def test_cognito_groups_become_roles_and_unknown_groups_grant_nothing(aws_env: None) -> None:
    with mock_aws():
        identity = _cognito().identity
        assert isinstance(identity, CognitoIdentity)
        identity.change_groups(USER_ID, add=[Role.SUPERVISOR.value], remove=[])
        identity.client.create_group(UserPoolId=identity.pool_id, GroupName="x")
        identity.change_groups(USER_ID, add=["x"], remove=[])
        tokens = identity.initiate_auth(USER_ID, PASSWORD)
        assert tokens.id_token is not None
        claims = identity.verifier().verify(tokens.id_token)
        assert set(claims.roles) == {Role.CLINICIAN, Role.SUPERVISOR}


# ---- Cognito claim mapping (pure) ----------------------------------------------------------

BASE = {
    "sub": "c0ffee00-0000-4000-8000-000000000000",
    "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x",
    "aud": "client",
    "token_use": "id",
    "iat": 1_900_000_000,
    "exp": 1_900_000_900,
    "auth_time": 1_900_000_000,
    "jti": "jti-1",
    "origin_jti": "origin-1",
    "custom:practice_id": PRACTICE_ID,
    "custom:user_id": USER_ID,
    "cognito:groups": ["biller"],
}


def test_cognito_mapping_of_identity_and_session() -> None:
    claims = claims_from_cognito(BASE)
    assert (claims.sub, claims.practice_id, claims.sid) == (USER_ID, PRACTICE_ID, "origin-1")
    assert claims.roles == (Role.BILLER,)
    assert claims.amr == ("pwd",)
    without_user_id = {k: v for k, v in BASE.items() if k != "custom:user_id"}
    assert claims_from_cognito(without_user_id).sub == BASE["sub"]


@pytest.mark.parametrize(
    ("extra", "pool_mfa_required", "mfa"),
    [
        ({}, False, False),
        ({"cognito:groups": ["biller", "mfa"]}, False, True),  # only the API adds `mfa`
        ({"custom:mfa": "true", "tpm_mfa": "true"}, False, False),  # claims nobody vouches for
        ({}, True, True),  # the pool requires MFA for everyone
    ],
)
def test_cognito_mfa_mapping(extra: dict[str, str], pool_mfa_required: bool, mfa: bool) -> None:
    claims = claims_from_cognito({**BASE, **extra}, pool_mfa_required=pool_mfa_required)
    assert claims.mfa_authenticated is mfa


def test_cognito_access_tokens_take_practice_from_a_practice_claim() -> None:
    access = {k: v for k, v in BASE.items() if not k.startswith("custom:") and k != "aud"}
    access |= {"token_use": "access", "client_id": "client", "practice_id": PRACTICE_ID}
    claims: TokenClaims = claims_from_cognito(access)
    assert (claims.practice_id, claims.aud, claims.token_use) == (PRACTICE_ID, "client", "access")
    with pytest.raises(KeyError):
        claims_from_cognito({k: v for k, v in access.items() if k != "practice_id"})


def test_cognito_mfa_enrolment_puts_the_fact_in_the_token(aws_env: None, monkeypatch: Any) -> None:
    # moto checks TOTP codes only with this switch (against one fixed secret for every
    # user, where Cognito makes one per user).
    monkeypatch.setenv("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")
    with mock_aws():
        identity = _cognito().identity
        assert isinstance(identity, CognitoIdentity)
        first = identity.initiate_auth(USER_ID, PASSWORD)
        assert first.access_token is not None
        secret = identity.associate_software_token(first.access_token)
        assert not identity.verify_software_token(first.access_token, "000000")
        assert identity.verify_software_token(first.access_token, _totp(secret))
        identity.set_software_token_mfa(USER_ID, enabled=True)
        # Every sign-in now stops at the second factor ...
        challenged = identity.initiate_auth(USER_ID, PASSWORD)
        assert (challenged.challenge, challenged.id_token) == ("SOFTWARE_TOKEN_MFA", None)
        assert challenged.session is not None
        with pytest.raises(Unauthenticated):
            identity.respond_to_mfa(USER_ID, challenged.session, "000000")
        again = identity.initiate_auth(USER_ID, PASSWORD)
        assert again.session is not None
        done = identity.respond_to_mfa(USER_ID, again.session, _totp(secret))
        assert done.id_token is not None
        # ... and its tokens carry the fact, signed.
        claims = identity.verifier().verify(done.id_token)
        assert claims.mfa_authenticated is True
        assert claims.roles == (Role.CLINICIAN,)
        identity.set_software_token_mfa(USER_ID, enabled=False)
        plain = identity.initiate_auth(USER_ID, PASSWORD)
        assert plain.id_token is not None
        assert identity.verifier().verify(plain.id_token).mfa_authenticated is False


def test_cognito_refresh_keeps_the_session_lineage(aws_env: None) -> None:
    with mock_aws():
        identity = _cognito().identity
        assert isinstance(identity, CognitoIdentity)
        tokens = identity.initiate_auth(USER_ID, PASSWORD)
        assert tokens.id_token is not None
        assert tokens.refresh_token is not None
        renewed = identity.refresh(USER_ID, tokens.refresh_token)
        assert renewed.refresh_token == tokens.refresh_token  # not rotated on this flow
        assert renewed.id_token is not None
        verify = identity.verifier().verify
        assert verify(renewed.id_token).sid == verify(tokens.id_token).sid


def _totp(secret: str) -> str:
    """RFC 6238 by hand: pyotp refuses moto's 60-bit secret."""
    import hashlib
    import hmac
    import struct
    import time

    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"
