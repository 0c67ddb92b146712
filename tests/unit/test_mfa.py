"""TOTP with replay protection, and single-use recovery codes."""

from __future__ import annotations

import re
import urllib.parse
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from tpm.security.mfa import (
    hash_recovery_code,
    match_recovery_code,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    totp_step,
    verify_totp,
)

NOW = datetime(2030, 1, 15, 12, 0, 10, tzinfo=UTC)
PEPPER = b"p" * 32


def code_at(secret: str, moment: datetime) -> str:
    return str(pyotp.TOTP(secret).at(moment))


@pytest.fixture
def secret() -> str:
    return new_totp_secret()


def test_secrets_are_160_bit_base32_and_unique() -> None:
    first, second = new_totp_secret(), new_totp_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", first)
    assert first != second


def test_provisioning_uri_names_account_and_issuer(secret: str) -> None:
    uri = provisioning_uri(secret, "jane@example.com", "Riverside Therapy")
    parsed = urllib.parse.urlsplit(uri)
    query = urllib.parse.parse_qs(parsed.query)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    assert urllib.parse.unquote(parsed.path) == "/Riverside Therapy:jane@example.com"
    assert query["secret"] == [secret]
    assert query["issuer"] == ["Riverside Therapy"]


def test_current_code_returns_its_step(secret: str) -> None:
    assert verify_totp(secret, code_at(secret, NOW), NOW, None) == totp_step(NOW)


@pytest.mark.parametrize("offset_steps", [-1, 1])
def test_one_step_either_side_is_accepted(secret: str, offset_steps: int) -> None:
    moment = NOW + timedelta(seconds=30 * offset_steps)
    assert verify_totp(secret, code_at(secret, moment), NOW, None) == totp_step(moment)


@pytest.mark.parametrize("offset_steps", [-2, 2, -20])
def test_codes_outside_the_window_are_rejected(secret: str, offset_steps: int) -> None:
    moment = NOW + timedelta(seconds=30 * offset_steps)
    assert verify_totp(secret, code_at(secret, moment), NOW, None) is None


def test_a_used_code_cannot_be_replayed(secret: str) -> None:
    code = code_at(secret, NOW)
    step = verify_totp(secret, code, NOW, None)
    assert step is not None
    # GIVEN the step was stored; WHEN the same code comes again (same or next step)
    assert verify_totp(secret, code, NOW, step) is None
    assert verify_totp(secret, code, NOW + timedelta(seconds=30), step) is None


def test_an_earlier_code_is_rejected_after_a_later_one_was_used(secret: str) -> None:
    later = NOW + timedelta(seconds=30)
    used = verify_totp(secret, code_at(secret, later), NOW, None)
    assert used == totp_step(later)
    assert verify_totp(secret, code_at(secret, NOW), NOW, used) is None
    # and the next fresh step still works
    after = later + timedelta(seconds=30)
    assert verify_totp(secret, code_at(secret, after), after, used) == totp_step(after)


def test_spaces_are_tolerated(secret: str) -> None:
    code = code_at(secret, NOW)
    assert verify_totp(secret, f"{code[:3]} {code[3:]}", NOW, None) == totp_step(NOW)


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 34 5"])
def test_malformed_codes_are_rejected(secret: str, bad: str) -> None:
    assert verify_totp(secret, bad, NOW, None) is None


def test_a_wrong_code_is_rejected(secret: str) -> None:
    code = code_at(secret, NOW)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert verify_totp(secret, wrong, NOW, None) is None
    assert verify_totp(new_totp_secret(), code, NOW, None) is None


def test_naive_datetimes_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="aware"):
        verify_totp(secret, "123456", NOW.replace(tzinfo=None), None)


def test_recovery_codes_have_the_documented_shape_and_are_unique() -> None:
    codes = new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        # 12 Crockford base-32 characters: 60 random bits.
        assert re.fullmatch(r"[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){2}", code)


@pytest.mark.parametrize("n", [0, 51])
def test_recovery_code_count_is_bounded(n: int) -> None:
    with pytest.raises(ValueError, match="between"):
        new_recovery_codes(n)


def test_recovery_codes_are_stored_as_peppered_hashes() -> None:
    code = new_recovery_codes(1)[0]
    stored = hash_recovery_code(code, PEPPER)
    assert stored.startswith("rc1$")
    assert code not in stored
    assert code.replace("-", "") not in stored
    assert hash_recovery_code(code, PEPPER) == stored  # deterministic: lookups need it
    assert hash_recovery_code(code, b"q" * 32) != stored


def test_a_recovery_code_matches_once_then_is_burned() -> None:
    codes = new_recovery_codes()
    stored = [hash_recovery_code(c, PEPPER) for c in codes]
    index = match_recovery_code(codes[3], stored, PEPPER)
    assert index == 3
    # GIVEN the caller burns the matched hash; THEN the same code no longer matches
    del stored[index]
    assert match_recovery_code(codes[3], stored, PEPPER) is None
    assert match_recovery_code(codes[4], stored, PEPPER) == 3  # the others still work


def test_recovery_code_typing_variations_match() -> None:
    code = "k3m9-2xq0-a71d"
    stored = [hash_recovery_code(code, PEPPER)]
    for typed in ["K3M9-2XQ0-A71D", "k3m92xq0a71d", " k3m9 2xqo a7Id "]:
        assert match_recovery_code(typed, stored, PEPPER) == 0


def test_wrong_code_or_wrong_pepper_does_not_match() -> None:
    codes = new_recovery_codes(3)
    stored = [hash_recovery_code(c, PEPPER) for c in codes]
    assert match_recovery_code("0000-0000-0000", stored, PEPPER) is None
    assert match_recovery_code(codes[0], stored, b"q" * 32) is None
    assert match_recovery_code(codes[0], [], PEPPER) is None


def test_a_short_pepper_is_refused() -> None:
    with pytest.raises(ValueError, match="pepper"):
        hash_recovery_code("k3m9-2xq0-a71d", b"short")
