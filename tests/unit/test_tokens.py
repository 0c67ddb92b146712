"""Local signer and the one token verifier: forged tokens, lifetimes, key sets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tpm.adapters.identity.jwks import HttpJwks
from tpm.clock import FixedClock
from tpm.errors import DependencyUnavailable, Unauthenticated
from tpm.security.principal import Role
from tpm.security.tokens import (
    LocalSigner,
    StaticJwks,
    TokenUse,
    TokenVerifier,
    generate_signing_key,
    key_id,
    load_signing_key,
    parse_jwks,
)

T0 = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
ISSUER = "https://tpm.local"
AUDIENCE = "tpm-api"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def make_signer(
    key: Ed25519PrivateKey,
    at: datetime = T0,
    *,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    kid: str | None = None,
) -> LocalSigner:
    return LocalSigner(key, issuer=issuer, audience=audience, kid=kid, clock=FixedClock(at))


def make_verifier(
    signer: LocalSigner,
    at: datetime = T0,
    token_use: TokenUse = "access",
    **kw: Any,
) -> TokenVerifier:
    return TokenVerifier(
        StaticJwks(signer.jwks()),
        issuer=ISSUER,
        audience=AUDIENCE,
        allowed_algs=kw.pop("allowed_algs", ["EdDSA"]),
        expected_token_use=token_use,
        clock=FixedClock(at),
        **kw,
    )


def issue(signer: LocalSigner, use: str = "access", **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "sub": "usr_01",
        "practice_id": "prc_01",
        "roles": [Role.CLINICIAN],
        "sid": "ses_01",
        "auth_time": T0,
        "amr": ["pwd", "mfa"],
    }
    fields.update(overrides)
    method: Callable[..., str] = getattr(signer, f"issue_{use}")
    return method(**fields)


def good_payload(signer: LocalSigner) -> dict[str, Any]:
    return dict(jwt.decode(issue(signer), options={"verify_signature": False}))


def sign_raw(key: Ed25519PrivateKey, payload: dict[str, Any], kid: str | None) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm="EdDSA", headers=headers)


def test_a_good_token_verifies_and_maps_every_claim(key: Ed25519PrivateKey) -> None:
    signer = make_signer(key)
    token = issue(signer, patient_id=None, roles=[Role.SUPERVISOR, Role.CLINICIAN])
    claims = make_verifier(signer).verify(token)
    assert claims.sub == "usr_01"
    assert claims.practice_id == "prc_01"
    assert claims.roles == (Role.CLINICIAN, Role.SUPERVISOR)
    assert claims.sid == "ses_01"
    assert claims.token_use == "access"
    assert claims.auth_time == T0
    assert claims.iat == T0
    assert claims.exp == T0 + timedelta(minutes=15)
    assert (claims.iss, claims.aud) == (ISSUER, AUDIENCE)
    assert claims.mfa_authenticated is True
    assert claims.patient_id is None
    assert len(claims.jti) >= 16


def test_patient_tokens_carry_the_patient_id(key: Ed25519PrivateKey) -> None:
    signer = make_signer(key)
    token = issue(signer, roles=[Role.PATIENT], patient_id="pat_01", amr=["pwd"])
    claims = make_verifier(signer).verify(token)
    assert claims.patient_id == "pat_01"
    assert claims.mfa_authenticated is False


def test_refresh_and_id_tokens_verify_with_a_verifier_for_their_use(
    key: Ed25519PrivateKey,
) -> None:
    signer = make_signer(key)
    refresh = make_verifier(signer, token_use="refresh").verify(issue(signer, "refresh"))
    assert refresh.exp == T0 + timedelta(hours=12)
    assert make_verifier(signer, token_use="id").verify(issue(signer, "id")).token_use == "id"


def test_jti_is_unique_per_token(key: Ed25519PrivateKey) -> None:
    signer = make_signer(key)
    verifier = make_verifier(signer)
    assert verifier.verify(issue(signer)).jti != verifier.verify(issue(signer)).jti


# ---- forged and broken tokens: every one is rejected, for the reason we meant ----------


def _forged(key: Ed25519PrivateKey, case: str) -> str:
    signer = make_signer(key)
    kid = signer.kid
    payload = good_payload(signer)
    other = Ed25519PrivateKey.generate()
    match case:
        case "alg_none":
            return unsigned({"alg": "none", "kid": kid, "typ": "JWT"}, payload) + "."
        case "hs256_with_public_key":
            public_pem = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            signing_input = unsigned({"alg": "HS256", "kid": kid, "typ": "JWT"}, payload)
            mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{b64(mac)}"
        case "expired":
            return issue(make_signer(key, T0 - timedelta(minutes=16)))
        case "not_yet_valid":
            return issue(make_signer(key, T0 + timedelta(minutes=5)))
        case "wrong_audience":
            return issue(make_signer(key, audience="another-api"))
        case "wrong_issuer":
            return issue(make_signer(key, issuer="https://evil.example"))
        case "id_token_as_access":
            return issue(signer, "id")
        case "refresh_token_as_access":
            return issue(signer, "refresh")
        case "unknown_kid":
            return issue(make_signer(other))
        case "no_kid":
            return sign_raw(key, payload, None)
        case "tampered_payload":
            head, _, sig = issue(signer).split(".")
            body = b64(json.dumps({**payload, "practice_id": "prc_02"}).encode())
            return f"{head}.{body}.{sig}"
        case "tampered_signature":
            head, body, sig = issue(signer).split(".")
            raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
            raw[0] ^= 0x01
            return ".".join([head, body, b64(bytes(raw))])
        case "same_kid_other_key":
            return issue(make_signer(other, kid=kid))
        case "missing_exp":
            return sign_raw(key, {k: v for k, v in payload.items() if k != "exp"}, kid)
        case "missing_jti":
            return sign_raw(key, {k: v for k, v in payload.items() if k != "jti"}, kid)
        case "missing_practice":
            return sign_raw(key, {k: v for k, v in payload.items() if k != "practice_id"}, kid)
        case "no_roles":
            return sign_raw(key, {**payload, "roles": []}, kid)
        case "unknown_role":
            return sign_raw(key, {**payload, "roles": ["superuser"]}, kid)
        case "string_exp":
            return sign_raw(key, {**payload, "exp": "never"}, kid)
        case "es256_token":
            ec_key = ec.generate_private_key(ec.SECP256R1())
            return jwt.encode(payload, ec_key, algorithm="ES256", headers={"kid": kid})
        case "garbage":
            return "not.a.token"
        case "empty":
            return ""
        case "oversized":
            return sign_raw(key, {**payload, "pad": "x" * 9000}, kid)
    raise AssertionError(case)


FORGED = {
    "alg_none": "alg_not_allowed",
    "hs256_with_public_key": "alg_not_allowed",
    "expired": "expired",
    "not_yet_valid": "not_yet_valid",
    "wrong_audience": "wrong_audience",
    "wrong_issuer": "wrong_issuer",
    "id_token_as_access": "wrong_token_use",
    "refresh_token_as_access": "wrong_token_use",
    "unknown_kid": "unknown_kid",
    "no_kid": "kid_missing",
    "tampered_payload": "bad_signature",
    "tampered_signature": "bad_signature",
    "same_kid_other_key": "bad_signature",
    "missing_exp": "missing_claim",
    "missing_jti": "missing_claim",
    "missing_practice": "claims_invalid",
    "no_roles": "claims_invalid",
    "unknown_role": "claims_invalid",
    "string_exp": "invalid_time_claim",
    "es256_token": "alg_not_allowed",
    "garbage": "malformed",
    "empty": "malformed",
    "oversized": "malformed",
}


@pytest.mark.parametrize(("case", "reason"), FORGED.items(), ids=list(FORGED))
def test_forged_or_broken_tokens_are_rejected(
    key: Ed25519PrivateKey, case: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = _forged(key, case)
    verifier = make_verifier(make_signer(key))
    with (
        caplog.at_level(logging.INFO, logger="tpm.security.tokens"),
        pytest.raises(Unauthenticated) as caught,
    ):
        verifier.verify(token)
    # One generic error for every failure; the reason is logged as a code, never the token.
    assert caught.value.message == "Authentication is required."
    assert caught.value.details == {}
    assert [r.getMessage() for r in caplog.records] == [f"token_rejected reason={reason}"]
    assert all(token not in r.getMessage() for r in caplog.records if token)


def test_a_key_of_another_type_under_an_allowed_alg_is_rejected(key: Ed25519PrivateKey) -> None:
    # The token says ES256 (allowed here) but names our Ed25519 key's kid.
    signer = make_signer(key)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(good_payload(signer), ec_key, algorithm="ES256", headers={"kid": signer.kid})
    verifier = make_verifier(signer, allowed_algs=["EdDSA", "ES256"])
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


@pytest.mark.parametrize(
    ("age", "valid"),
    [
        (timedelta(minutes=15, seconds=29), True),  # inside the 30 s leeway
        (timedelta(minutes=15, seconds=30), False),
        (timedelta(seconds=-29), True),  # a clock slightly behind the issuer's
        (timedelta(seconds=-31), False),
    ],
)
def test_lifetime_boundaries_use_the_leeway(
    key: Ed25519PrivateKey, age: timedelta, valid: bool
) -> None:
    signer = make_signer(key)
    token = issue(signer)
    verifier = make_verifier(signer, at=T0 + age)
    if valid:
        assert verifier.verify(token).sub == "usr_01"
    else:
        with pytest.raises(Unauthenticated):
            verifier.verify(token)


@pytest.mark.parametrize("algs", [[], ["HS256"], ["none"], ["EdDSA", "HS512"]])
def test_a_verifier_cannot_be_built_with_symmetric_or_no_algorithms(
    key: Ed25519PrivateKey, algs: list[str]
) -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        make_verifier(make_signer(key), allowed_algs=algs)


def test_client_id_audience_mode(key: Ed25519PrivateKey) -> None:
    # Cognito access tokens carry the app client in `client_id` and have no `aud`.
    signer = make_signer(key)
    payload = {k: v for k, v in good_payload(signer).items() if k != "aud"}
    good = sign_raw(key, {**payload, "client_id": AUDIENCE}, signer.kid)
    wrong = sign_raw(key, {**payload, "client_id": "other-client"}, signer.kid)
    absent = sign_raw(key, payload, signer.kid)

    def mapper(p: Any) -> Any:
        from tpm.security.tokens import TokenClaims

        return TokenClaims.model_validate({**p, "aud": p["client_id"]})

    verifier = make_verifier(signer, audience_claim="client_id", claims_mapper=mapper)
    assert verifier.verify(good).aud == AUDIENCE
    for token in (wrong, absent):
        with pytest.raises(Unauthenticated):
            verifier.verify(token)


# ---- keys, JWKS and rotation -------------------------------------------------------------


def test_generated_keys_round_trip_with_a_thumbprint_kid() -> None:
    pem, kid = generate_signing_key()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_signing_key(pem)
    assert key_id(loaded.public_key()) == kid
    assert LocalSigner(pem, issuer=ISSUER, audience=AUDIENCE).kid == kid
    assert generate_signing_key()[1] != kid


def test_a_non_ed25519_pem_is_refused() -> None:
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="Ed25519"):
        load_signing_key(ec_pem)


def test_jwks_publishes_only_public_signing_keys(key: Ed25519PrivateKey) -> None:
    signer = make_signer(key)
    (entry,) = signer.jwks()["keys"]
    assert entry == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": entry["x"],
        "kid": signer.kid,
        "alg": "EdDSA",
        "use": "sig",
    }
    assert "d" not in entry


def test_retired_keys_stay_published_so_old_tokens_verify(key: Ed25519PrivateKey) -> None:
    old_token = issue(make_signer(key))
    new_signer = LocalSigner(
        Ed25519PrivateKey.generate(),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=FixedClock(T0),
        retired_keys=[key.public_key()],
    )
    assert [k["kid"] for k in new_signer.jwks()["keys"]] == [
        new_signer.kid,
        key_id(key.public_key()),
    ]
    verifier = make_verifier(new_signer)
    assert verifier.verify(old_token).sub == "usr_01"
    assert verifier.verify(issue(new_signer)).sub == "usr_01"


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-1), timedelta(days=31)])
def test_token_lifetimes_are_bounded(key: Ed25519PrivateKey, ttl: timedelta) -> None:
    with pytest.raises(ValueError, match="ttl"):
        issue(make_signer(key), ttl=ttl)


def test_naive_auth_time_is_refused(key: Ed25519PrivateKey) -> None:
    with pytest.raises(ValueError, match="aware"):
        issue(make_signer(key), auth_time=T0.replace(tzinfo=None))


def test_parse_jwks_skips_private_unusable_and_encryption_keys(key: Ed25519PrivateKey) -> None:
    good = make_signer(key).jwks()["keys"][0]
    document = {
        "keys": [
            good,
            {**good, "kid": "private", "d": "AAAA"},
            {**good, "kid": "enc", "use": "enc"},
            {"kty": "nope", "kid": "weird"},
            {"kty": "OKP", "crv": "Ed25519"},  # no kid
            "not-an-object",
        ]
    }
    assert list(parse_jwks(document)) == [good["kid"]]
    assert parse_jwks({"keys": "nope"}) == {}


class FakeFetch:
    """Stands in for the network: returns queued bodies or raises, and counts calls."""

    def __init__(self, *responses: bytes | Exception) -> None:
        self.responses = list(responses)
        self.urls: list[str] = []

    def __call__(self, url: str, timeout: float) -> bytes:
        self.urls.append(url)
        response = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(response, Exception):
            raise response
        return response


def _jwks_bytes(*signers: LocalSigner) -> bytes:
    return json.dumps({"keys": [k for s in signers for k in s.jwks()["keys"]]}).encode()


def test_http_jwks_caches_for_its_ttl() -> None:
    signer = make_signer(Ed25519PrivateKey.generate())
    clock = FixedClock(T0)
    fetch = FakeFetch(_jwks_bytes(signer))
    jwks = HttpJwks("https://idp.example/jwks.json", clock=clock, fetch=fetch)
    assert jwks.get(signer.kid) is not None
    assert jwks.get(signer.kid) is not None
    assert len(fetch.urls) == 1
    clock.advance(hours=1)
    assert jwks.get(signer.kid) is not None
    assert fetch.urls == ["https://idp.example/jwks.json"] * 2


def test_unknown_kid_refreshes_once_then_is_rate_limited() -> None:
    old, new = make_signer(Ed25519PrivateKey.generate()), make_signer(Ed25519PrivateKey.generate())
    clock = FixedClock(T0)
    fetch = FakeFetch(_jwks_bytes(old), _jwks_bytes(old, new))
    jwks = HttpJwks("https://idp.example/jwks.json", clock=clock, fetch=fetch)
    verifier = TokenVerifier(
        jwks, issuer=ISSUER, audience=AUDIENCE, allowed_algs=["EdDSA"], clock=clock
    )
    # GIVEN the first fetch predates the new key; WHEN a token names it after a minute
    assert verifier.verify(issue(old)).sub == "usr_01"
    clock.advance(minutes=1)
    assert verifier.verify(issue(new)).sub == "usr_01"
    assert len(fetch.urls) == 2
    # THEN random kids do not trigger more fetches within the rate limit
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            verifier.verify(issue(make_signer(Ed25519PrivateKey.generate())))
    assert len(fetch.urls) == 2


def test_a_failed_reload_keeps_the_cached_keys() -> None:
    signer = make_signer(Ed25519PrivateKey.generate())
    clock = FixedClock(T0)
    fetch = FakeFetch(_jwks_bytes(signer), OSError("down"))
    jwks = HttpJwks("https://idp.example/jwks.json", clock=clock, fetch=fetch)
    assert jwks.get(signer.kid) is not None
    clock.advance(hours=2)
    assert jwks.get(signer.kid) is not None
    assert len(fetch.urls) == 2


@pytest.mark.parametrize("failure", [OSError("down"), b"not json", b"[1, 2]"])
def test_no_keys_at_all_is_a_dependency_failure_not_a_bad_token(
    failure: bytes | Exception,
) -> None:
    fetch = FakeFetch(failure)
    jwks = HttpJwks("https://idp.example/jwks.json", clock=FixedClock(T0), fetch=fetch)
    if isinstance(failure, Exception) or failure == b"not json":
        with pytest.raises(DependencyUnavailable):
            jwks.get("any")
    else:
        assert jwks.get("any") is None  # a valid but empty document: no such key


@pytest.mark.parametrize(
    "url", ["http://idp.example/jwks.json", "file:///etc/passwd", "ftp://x/jwks.json"]
)
def test_jwks_urls_must_be_https_except_on_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="https"):
        HttpJwks(url)
    assert HttpJwks("http://127.0.0.1:8000/jwks.json") is not None
