"""Second factors: TOTP (RFC 6238, via pyotp) and single-use recovery codes.

TOTP replay protection: `verify_totp` returns the time step it accepted; the caller
stores it on the user and passes it back next time, and any code from that step or an
earlier one is refused, so a code seen over a shoulder or in a log cannot be used twice.

Recovery codes are 60 random bits each (12 Crockford base-32 characters) and are stored
only as HMAC-SHA256 digests keyed with a server-side pepper. A slow hash (argon2) would
add nothing for secrets with this much entropy, while it would make one guess cost ten
slow verifications (one per stored code) — a cheap denial-of-service lever. The pepper
lives with the keys, not in the table, so a leaked table alone cannot be tested offline.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Final
from urllib.parse import quote, urlencode

import pyotp

TOTP_DIGITS: Final = 6
TOTP_INTERVAL_SECONDS: Final = 30
# One step either side absorbs clock drift and a code typed just as it rolled over.
TOTP_VALID_WINDOW: Final = 1

RECOVERY_CODE_COUNT: Final = 10
_RECOVERY_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford: no i, l, o, u
_CROCKFORD_ALIASES: Final = str.maketrans("ilo", "110")
_RECOVERY_GROUPS: Final = (4, 4, 4)
_RECOVERY_HASH_PREFIX: Final = "rc1$"
MIN_PEPPER_BYTES: Final = 32


def new_totp_secret() -> str:
    """A base-32 secret of 160 bits, the RFC 4226 recommended length."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account_name: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app imports (shown as a QR code). Built from the
    secret as given: under Cognito the pool makes the secret (AssociateSoftwareToken), and
    its length is the pool's business, not pyotp's minimum."""
    label = quote(f"{issuer}:{account_name}", safe="@:")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "digits": TOTP_DIGITS,
            "period": TOTP_INTERVAL_SECONDS,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def totp_step(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("verify_totp needs an aware datetime")
    return int(at.timestamp()) // TOTP_INTERVAL_SECONDS


def verify_totp(secret: str, code: str, at: datetime, last_used_step: int | None) -> int | None:
    """The accepted time step, or None for a wrong, malformed or replayed code."""
    candidate = code.replace(" ", "").replace("-", "")
    if len(candidate) != TOTP_DIGITS or not candidate.isascii() or not candidate.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL_SECONDS)
    current = totp_step(at)
    accepted: int | None = None
    # Compare every step in the window (no early exit) so timing says nothing about which.
    for step in range(current - TOTP_VALID_WINDOW, current + TOTP_VALID_WINDOW + 1):
        matches = hmac.compare_digest(str(totp.generate_otp(step)), candidate)
        fresh = last_used_step is None or step > last_used_step
        if matches and fresh:
            accepted = step
    return accepted


def new_recovery_codes(n: int = RECOVERY_CODE_COUNT) -> list[str]:
    """`n` codes like 'k3m9-2xqv-a7fd', shown to the user once."""
    if not 1 <= n <= 50:
        raise ValueError("n must be between 1 and 50")
    return [_new_recovery_code() for _ in range(n)]


def _new_recovery_code() -> str:
    groups = (
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(size))
        for size in _RECOVERY_GROUPS
    )
    return "-".join(groups)


def normalise_recovery_code(code: str) -> str:
    """Case, spaces and hyphens do not matter; i/l read as 1 and o as 0 (Crockford)."""
    folded = "".join(ch for ch in code.lower() if ch not in " -\t")
    return folded.translate(_CROCKFORD_ALIASES)


def hash_recovery_code(code: str, pepper: bytes) -> str:
    _check_pepper(pepper)
    digest = hmac.new(pepper, normalise_recovery_code(code).encode(), hashlib.sha256)
    return _RECOVERY_HASH_PREFIX + digest.hexdigest()


def match_recovery_code(code: str, hashes: list[str], pepper: bytes) -> int | None:
    """Index of the stored hash this code matches, so the caller can burn that one."""
    candidate = hash_recovery_code(code, pepper)
    matched: int | None = None
    for index, stored in enumerate(hashes):
        if hmac.compare_digest(candidate, stored) and matched is None:
            matched = index
    return matched


def _check_pepper(pepper: bytes) -> None:
    if len(pepper) < MIN_PEPPER_BYTES:
        raise ValueError(f"the recovery-code pepper must be at least {MIN_PEPPER_BYTES} bytes")


def qr_svg(uri: str) -> str:
    """The provisioning URI as an SVG QR code (no raster library needed), for the
    enrolment screen. The URI holds the secret: it is shown once and never logged."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    rendered = image.to_string(encoding="unicode")
    return rendered if isinstance(rendered, str) else rendered.decode("utf-8")
