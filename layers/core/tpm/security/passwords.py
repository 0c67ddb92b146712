"""Password hashing (argon2id) and a password policy in the spirit of NIST SP 800-63B.

Hashing parameters follow the OWASP Password Storage Cheat Sheet's first argon2id
configuration: 19 MiB of memory, 2 passes, 1 lane. One lane because a Lambda function
at common memory sizes has less than two vCPUs, so more lanes only add latency; 19 MiB
keeps many concurrent sign-ins inside the function's memory. The encoded hash carries
its parameters, so raising them later is safe: `needs_rehash` tells the sign-in service
to re-hash on the next successful login.

Policy: length and a blocklist instead of composition rules (800-63B §3.1.1.2): at least
`min_length` code points after NFKC normalisation, at most `max_length`, not a common or
breached password, not one character or a short unit repeated, not a plain sequence or
keyboard row, and not containing the user's own name, email or the practice name.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from importlib import resources
from typing import Final

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, model_validator

TIME_COST: Final = 2
MEMORY_COST_KIB: Final = 19 * 1024
PARALLELISM: Final = 1
HASH_LEN: Final = 32
SALT_LEN: Final = 16

_HASHER = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_COST_KIB,
    parallelism=PARALLELISM,
    hash_len=HASH_LEN,
    salt_len=SALT_LEN,
    type=Type.ID,
)


def normalise(password: str) -> str:
    """NFKC, so the same password typed on different keyboards hashes the same."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """An encoded argon2id hash (`$argon2id$v=19$m=...`) with a fresh random salt."""
    return _HASHER.hash(normalise(password))


def verify_password(password_hash: str, password: str) -> bool:
    """True only for the right password; a mismatch or a malformed hash is False."""
    try:
        return _HASHER.verify(password_hash, normalise(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters (or cannot be read)."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


@cache
def _dummy_hash() -> str:
    return _HASHER.hash("tpm-dummy-password-for-unknown-users")


def verify_dummy(password: str) -> bool:
    """Spend the same work as a real verify for an unknown user; always False.

    Without it, "no such user" answers faster than "wrong password", which tells an
    attacker which emails have accounts.
    """
    verify_password(_dummy_hash(), password)
    return False


class PasswordPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # 800-63B-4 asks 15 for single-factor passwords; 12 here because staff roles that
    # touch the most PHI must also use MFA. Never below 8, the standard's floor.
    min_length: int = Field(default=12, ge=8, le=64)
    # At least 64 so passphrases fit (800-63B); a cap stops hashing huge inputs.
    max_length: int = Field(default=128, ge=64, le=1024)
    check_breached: bool = True

    @model_validator(mode="after")
    def _bounds(self) -> PasswordPolicy:
        if self.min_length > self.max_length:
            raise ValueError("min_length must not exceed max_length")
        return self


TOO_SHORT: Final = "too_short"
TOO_LONG: Final = "too_long"
COMMON_PASSWORD: Final = "common_password"  # noqa: S105 - a violation code
REPETITIVE: Final = "repetitive"
SEQUENTIAL: Final = "sequential"
CONTAINS_CONTEXT: Final = "contains_context"

_COMMON_FILE: Final = "common-passwords.txt"
# Ordered runs people type; a password that is one slice of these (either direction,
# wrapping) is a sequence.
_SEQUENCES: Final = (
    "0123456789",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)
_REPEATED_UNIT = re.compile(r"(.{1,4}?)\1+", re.DOTALL)
_CONTEXT_SPLIT = re.compile(r"[^\w]+|_")
# Shorter fragments of a name ("jo", "ann") would reject too many good passphrases.
_MIN_CONTEXT_TOKEN: Final = 4


@cache
def common_passwords() -> frozenset[str]:
    """The shipped blocklist, lower-case; read once per process, on first use."""
    text = resources.files("tpm.security").joinpath("data", _COMMON_FILE).read_text("utf-8")
    return frozenset(line for line in (raw.strip() for raw in text.splitlines()) if line)


def check_password(
    password: str, policy: PasswordPolicy, context_words: list[str] | None = None
) -> list[str]:
    """Violation codes (stable strings for the API); an empty list means acceptable."""
    candidate = normalise(password)
    violations: list[str] = []
    if len(candidate) < policy.min_length:
        violations.append(TOO_SHORT)
    if len(candidate) > policy.max_length:
        violations.append(TOO_LONG)
        return violations  # do no more work on oversized input
    folded = candidate.casefold()
    if policy.check_breached and folded in common_passwords():
        violations.append(COMMON_PASSWORD)
    if _is_repetitive(folded):
        violations.append(REPETITIVE)
    if _is_sequential(folded):
        violations.append(SEQUENTIAL)
    if _contains_context(folded, context_words or []):
        violations.append(CONTAINS_CONTEXT)
    return violations


def _is_repetitive(folded: str) -> bool:
    if len(folded) < 2:
        return False
    return len(set(folded)) <= 2 or _REPEATED_UNIT.fullmatch(folded) is not None


def _is_sequential(folded: str) -> bool:
    if len(folded) < 3:
        return False
    for sequence in _SEQUENCES:
        # Wrapping lets "890123" and "yzabc" count; the repeat covers any length.
        cycle = sequence * (len(folded) // len(sequence) + 2)
        if folded in cycle or folded[::-1] in cycle:
            return True
    return False


def context_tokens(context_words: list[str]) -> set[str]:
    """Fragments of the user's identity a password must not contain.

    An email contributes its local part (whole and split on . _ - +), never the domain;
    names and the practice name contribute each word and the words joined.
    """
    tokens: set[str] = set()
    for word in context_words:
        text = normalise(word).casefold().strip()
        if "@" in text:
            text = text.split("@", 1)[0]
        parts = [p for p in _CONTEXT_SPLIT.split(text) if p]
        for candidate in [*parts, "".join(parts)]:
            if len(candidate) >= _MIN_CONTEXT_TOKEN:
                tokens.add(candidate)
    return tokens


def _contains_context(folded: str, context_words: list[str]) -> bool:
    squashed = "".join(ch for ch in folded if ch.isalnum())
    return any(t in folded or t in squashed for t in context_tokens(context_words))
