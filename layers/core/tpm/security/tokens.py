"""Signed tokens: one verification path for the local identity provider and Cognito.

`TokenVerifier` checks a JWT against a JWKS with an explicit algorithm allow-list,
issuer, audience (or Cognito's `client_id`), token use and lifetime, then maps the
payload to `TokenClaims` with a provider-specific mapper. Every rejection raises the same
`Unauthenticated` error; the reason is logged as a code only, never the token.

Local tokens are signed with Ed25519 (JWS alg "EdDSA"). Chosen over ES256 because
Ed25519 signatures are deterministic — there is no per-signature nonce whose reuse or
bias leaks the private key, the classic ECDSA failure — keys are 32 bytes, and signing
and verifying are constant-time and fast. Only our own verifier reads local tokens, so
the narrower support for EdDSA in third-party tools costs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt import PyJWK
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from tpm.clock import Clock, SystemClock
from tpm.errors import Unauthenticated
from tpm.security.principal import Role

logger = logging.getLogger(__name__)

TokenUse = Literal["access", "id", "refresh"]
AudienceClaim = Literal["aud", "client_id"]

LOCAL_ALGORITHM: Final = "EdDSA"
ACCESS_TTL: Final = timedelta(minutes=15)
REFRESH_TTL: Final = timedelta(hours=12)
MAX_TTL: Final = timedelta(days=30)
# Asymmetric only: an HMAC algorithm would let anyone holding the public key sign.
ASYMMETRIC_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MAX_TOKEN_BYTES: Final = 8192
_PRIVATE_JWK_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})


class TokenClaims(BaseModel):
    """The facts a verified token asserts; the practice a request acts in comes from here."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: str = Field(min_length=1, max_length=128)
    practice_id: str = Field(min_length=1, max_length=128)
    roles: tuple[Role, ...] = Field(min_length=1)
    sid: str = Field(min_length=1, max_length=128)
    token_use: TokenUse
    auth_time: AwareDatetime
    amr: tuple[str, ...] = ()
    patient_id: str | None = Field(default=None, min_length=1, max_length=128)
    iat: AwareDatetime
    exp: AwareDatetime
    iss: str = Field(min_length=1)
    aud: str = Field(min_length=1)
    jti: str = Field(min_length=1, max_length=128)

    @property
    def mfa_authenticated(self) -> bool:
        return "mfa" in self.amr


def claims_from_local(payload: Mapping[str, Any]) -> TokenClaims:
    """Local tokens carry `TokenClaims` field names directly."""
    return TokenClaims.model_validate(dict(payload))


# --- keys ---------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint: the same key always gets the same kid."""
    canonical = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(public_key))}
    digest = hashlib.sha256(json.dumps(canonical, separators=(",", ":"), sort_keys=True).encode())
    return _b64url(digest.digest())


def public_jwk(public_key: Ed25519PublicKey, kid: str | None = None) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw_public(public_key)),
        "kid": kid or key_id(public_key),
        "alg": LOCAL_ALGORITHM,
        "use": "sig",
    }


def generate_signing_key() -> tuple[bytes, str]:
    """A new Ed25519 private key as unencrypted PKCS#8 PEM, and its kid."""
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, key_id(private_key.public_key())


def load_signing_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the signing key must be an Ed25519 private key")
    return key


# --- signing (local identity provider) ------------------------------------------------


class LocalSigner:
    """Issues the local provider's tokens and publishes its JWKS.

    `retired_keys` are public keys still published so tokens signed before a rotation
    verify until they expire.
    """

    def __init__(
        self,
        private_key: bytes | Ed25519PrivateKey,
        *,
        issuer: str,
        audience: str,
        kid: str | None = None,
        clock: Clock | None = None,
        retired_keys: Sequence[Ed25519PublicKey] = (),
    ) -> None:
        if isinstance(private_key, bytes):
            private_key = load_signing_key(private_key)
        self._key = private_key
        self._kid = kid or key_id(private_key.public_key())
        self._issuer = issuer
        self._audience = audience
        self._clock: Clock = clock or SystemClock()
        self._retired = tuple(retired_keys)

    @property
    def kid(self) -> str:
        return self._kid

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def audience(self) -> str:
        return self._audience

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        keys = [public_jwk(self._key.public_key(), self._kid)]
        keys += [public_jwk(k) for k in self._retired if key_id(k) != self._kid]
        return {"keys": keys}

    def issue_access(
        self,
        *,
        sub: str,
        practice_id: str,
        roles: Iterable[Role],
        sid: str,
        auth_time: datetime,
        amr: Sequence[str],
        patient_id: str | None = None,
        ttl: timedelta = ACCESS_TTL,
    ) -> str:
        return self._issue("access", sub, practice_id, roles, sid, auth_time, amr, patient_id, ttl)

    def issue_refresh(
        self,
        *,
        sub: str,
        practice_id: str,
        roles: Iterable[Role],
        sid: str,
        auth_time: datetime,
        amr: Sequence[str],
        patient_id: str | None = None,
        ttl: timedelta = REFRESH_TTL,
    ) -> str:
        return self._issue("refresh", sub, practice_id, roles, sid, auth_time, amr, patient_id, ttl)

    def issue_id(
        self,
        *,
        sub: str,
        practice_id: str,
        roles: Iterable[Role],
        sid: str,
        auth_time: datetime,
        amr: Sequence[str],
        patient_id: str | None = None,
        ttl: timedelta = ACCESS_TTL,
    ) -> str:
        return self._issue("id", sub, practice_id, roles, sid, auth_time, amr, patient_id, ttl)

    def _issue(
        self,
        token_use: TokenUse,
        sub: str,
        practice_id: str,
        roles: Iterable[Role],
        sid: str,
        auth_time: datetime,
        amr: Sequence[str],
        patient_id: str | None,
        ttl: timedelta,
    ) -> str:
        if not timedelta(0) < ttl <= MAX_TTL:
            raise ValueError("token ttl must be positive and at most 30 days")
        if auth_time.tzinfo is None:
            raise ValueError("auth_time must be an aware datetime")
        now = int(self._clock.now().timestamp())
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": sub,
            "iat": now,
            "exp": now + int(ttl.total_seconds()),
            "jti": secrets.token_urlsafe(16),
            "token_use": token_use,
            "practice_id": practice_id,
            "roles": sorted(Role(r).value for r in roles),
            "sid": sid,
            "auth_time": int(auth_time.timestamp()),
            "amr": list(amr),
        }
        if patient_id is not None:
            payload["patient_id"] = patient_id
        return jwt.encode(
            payload, self._key, algorithm=LOCAL_ALGORITHM, headers={"kid": self._kid, "typ": "JWT"}
        )


# --- key sets --------------------------------------------------------------------------


class JwksProvider(Protocol):
    def get(self, kid: str) -> PyJWK | None: ...

    def refresh(self) -> None:
        """Reload now (called once when a token names an unknown kid)."""


def parse_jwks(document: Mapping[str, Any]) -> dict[str, PyJWK]:
    """kid -> key for every usable public signing key; anything else is skipped."""
    keys: dict[str, PyJWK] = {}
    entries = document.get("keys")
    if not isinstance(entries, list):
        return keys
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or entry.get("use", "sig") != "sig":
            continue
        if _PRIVATE_JWK_MEMBERS & entry.keys():
            logger.warning("jwks_entry_skipped reason=private_material")
            continue
        try:
            keys[kid] = PyJWK(entry)
        except jwt.PyJWTError:
            logger.warning("jwks_entry_skipped reason=unusable_key")
    return keys


class StaticJwks:
    """A fixed key set (tests, or keys shipped with the deployment).

    `tpm.adapters.identity.jwks.HttpJwks` is the fetched, cached one.
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._keys = parse_jwks(document)

    def get(self, kid: str) -> PyJWK | None:
        return self._keys.get(kid)

    def refresh(self) -> None:
        return None


# --- verification ----------------------------------------------------------------------


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


ClaimsMapper = Callable[[Mapping[str, Any]], TokenClaims]


class TokenVerifier:
    """Verifies one kind of token (`expected_token_use`) from one issuer."""

    def __init__(
        self,
        jwks: JwksProvider,
        *,
        issuer: str,
        audience: str | Sequence[str],
        allowed_algs: Sequence[str],
        expected_token_use: TokenUse = "access",  # noqa: S107 - a token kind, not a secret
        leeway: timedelta = timedelta(seconds=30),
        audience_claim: AudienceClaim = "aud",
        claims_mapper: ClaimsMapper = claims_from_local,
        clock: Clock | None = None,
    ) -> None:
        algs = tuple(allowed_algs)
        if not algs or not set(algs) <= ASYMMETRIC_ALGORITHMS:
            raise ValueError("allowed_algs must be a non-empty list of asymmetric algorithms")
        self._jwks = jwks
        self._issuer = issuer
        self._audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        self._algs = algs
        self._token_use = expected_token_use
        self._leeway = leeway.total_seconds()
        self._audience_claim = audience_claim
        self._mapper = claims_mapper
        self._clock: Clock = clock or SystemClock()

    @property
    def expected_token_use(self) -> TokenUse:
        return self._token_use

    def verify(self, token: str) -> TokenClaims:
        """The token's claims, or `Unauthenticated` whatever was wrong with it."""
        try:
            payload = self._verified_payload(token)
            claims = self._map(payload)
        except _Rejected as rejected:
            # The reason code only: a token (even a forged one) may carry PHI or secrets.
            logger.info("token_rejected reason=%s", rejected.reason)
            raise Unauthenticated() from None
        return claims

    def _map(self, payload: dict[str, Any]) -> TokenClaims:
        try:
            claims = self._mapper(payload)
        except (ValidationError, ValueError, KeyError, TypeError):
            raise _Rejected("claims_invalid") from None
        if claims.token_use != self._token_use:
            raise _Rejected("wrong_token_use")
        return claims

    def _verified_payload(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_BYTES:
            raise _Rejected("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _Rejected("malformed") from None
        alg = header.get("alg")
        if alg not in self._algs:
            raise _Rejected("alg_not_allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _Rejected("kid_missing")
        key = self._jwks.get(kid)
        if key is None:
            self._jwks.refresh()
            key = self._jwks.get(kid)
        if key is None:
            raise _Rejected("unknown_kid")
        if key.algorithm_name != alg:
            raise _Rejected("alg_key_mismatch")
        payload = self._decode(token, key, alg)
        self._check_audience(payload)
        self._check_times(payload)
        if payload.get("token_use") != self._token_use:
            raise _Rejected("wrong_token_use")
        return payload

    def _decode(self, token: str, key: PyJWK, alg: str) -> dict[str, Any]:
        by_aud = self._audience_claim == "aud"
        required = ["exp", "iat", "iss", "sub", "jti", "token_use", self._audience_claim]
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                issuer=self._issuer,
                audience=list(self._audiences) if by_aud else None,
                # Lifetimes are checked against our Clock below, so tests can move time.
                options={
                    "require": required,
                    "verify_signature": True,
                    "verify_aud": by_aud,
                    "verify_iss": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise _Rejected("bad_signature") from None
        except jwt.InvalidIssuerError:
            raise _Rejected("wrong_issuer") from None
        except jwt.InvalidAudienceError:
            raise _Rejected("wrong_audience") from None
        except jwt.MissingRequiredClaimError:
            raise _Rejected("missing_claim") from None
        except jwt.PyJWTError:
            raise _Rejected("invalid") from None
        return payload

    def _check_audience(self, payload: Mapping[str, Any]) -> None:
        if self._audience_claim == "client_id" and payload.get("client_id") not in self._audiences:
            raise _Rejected("wrong_audience")

    def _check_times(self, payload: Mapping[str, Any]) -> None:
        now = self._clock.now().timestamp()
        exp = _number(payload.get("exp"))
        iat = _number(payload.get("iat"))
        nbf = _number(payload.get("nbf", 0))
        if exp <= now - self._leeway:
            raise _Rejected("expired")
        if iat > now + self._leeway or nbf > now + self._leeway:
            raise _Rejected("not_yet_valid")


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Rejected("invalid_time_claim")
    return float(value)
