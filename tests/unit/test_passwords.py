"""Password hashing and the NIST SP 800-63B style policy."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type
from argon2.low_level import Type as LowType
from pydantic import ValidationError

from tpm.security import passwords
from tpm.security.passwords import (
    PasswordPolicy,
    check_password,
    common_passwords,
    hash_password,
    needs_rehash,
    verify_dummy,
    verify_password,
)

POLICY = PasswordPolicy()
GOOD = "violet kettle harbour lamp"
# "password1234" in full-width forms, as some IMEs type it.
FULLWIDTH_PASSWORD1234 = "".join(chr(ord(c) + 0xFEE0) for c in "password1234")


def test_hash_is_argon2id_with_the_documented_parameters() -> None:
    encoded = hash_password(GOOD)
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert GOOD not in encoded
    assert hash_password(GOOD) != encoded  # a fresh salt every time


def test_right_password_verifies_and_wrong_ones_do_not() -> None:
    encoded = hash_password(GOOD)
    assert verify_password(encoded, GOOD) is True
    assert verify_password(encoded, GOOD + " ") is False
    assert verify_password(encoded, "") is False


@pytest.mark.parametrize("bad_hash", ["", "not-a-hash", "$argon2id$v=19$m=19456,t=2,p=1$xx$yy"])
def test_a_malformed_hash_is_a_mismatch_not_an_exception(bad_hash: str) -> None:
    assert verify_password(bad_hash, GOOD) is False


def test_passwords_are_nfkc_normalised_before_hashing() -> None:
    # The "ﬁ" ligature and full-width digits are what some keyboards and IMEs produce.
    encoded = hash_password("\ufb01ve golden rings \uff11\uff12")
    assert verify_password(encoded, "five golden rings 12") is True


def test_needs_rehash_after_a_parameter_change_or_for_garbage() -> None:
    assert needs_rehash(hash_password(GOOD)) is False
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    assert needs_rehash(weaker.hash(GOOD)) is True
    argon2i = PasswordHasher(type=LowType.I)
    assert needs_rehash(argon2i.hash(GOOD)) is True
    assert needs_rehash("garbage") is True


def test_dummy_verification_never_succeeds_and_costs_a_real_verification() -> None:
    assert verify_dummy(GOOD) is False
    assert verify_dummy("tpm-dummy-password-for-unknown-users") is False
    # Same parameters as a real hash, so the unknown-user path spends the same work.
    real_params = hash_password(GOOD).rsplit("$", 2)[0]
    assert passwords._dummy_hash().rsplit("$", 2)[0] == real_params


def test_policy_defaults_follow_800_63b() -> None:
    assert (POLICY.min_length, POLICY.max_length, POLICY.check_breached) == (12, 128, True)


@pytest.mark.parametrize(
    "fields",
    [{"min_length": 7}, {"max_length": 63}, {"min_length": 64, "max_length": 64, "x": 1}],
)
def test_policy_rejects_weak_or_unknown_settings(fields: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        PasswordPolicy.model_validate(fields)


def test_policy_min_cannot_exceed_max() -> None:
    assert PasswordPolicy(min_length=64, max_length=64).min_length == 64
    with pytest.raises(ValidationError):
        PasswordPolicy.model_validate({"min_length": 65, "max_length": 64})


@pytest.mark.parametrize(
    "password",
    [
        GOOD,
        "Tr0ub4dour&3 plus more",
        "我的密码是一只很长的猫咪",  # 12 code points: length counts characters, not bytes
        "x" * 3 + "correcthorse" + "y",
    ],
)
def test_acceptable_passwords_have_no_violations(password: str) -> None:
    assert check_password(password, POLICY, ["jane.doe@example.com", "Jane Doe"]) == []


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("short pass", ["too_short"]),
        ("a b c d e f " * 11, ["too_long"]),
        ("password1234", ["common_password"]),
        ("PassWord1234", ["common_password"]),  # case-insensitive
        (FULLWIDTH_PASSWORD1234, ["common_password"]),  # NFKC
        ("iloveyou1234", ["common_password"]),
        ("summer2024!!", ["common_password"]),
        ("qwertyuiop123", ["common_password"]),
        ("aaaaaaaaaaaa", ["common_password", "repetitive"]),
        ("abcabcabcabcabc", ["repetitive"]),
        ("xyxyxyxyxyxyxyx", ["repetitive"]),
        ("123456789012", ["common_password", "sequential"]),
        ("abcdefghijklm", ["common_password", "sequential"]),
        ("onmlkjihgfedcba", ["common_password", "sequential"]),
        ("1qaz2wsx3edc4rfv", ["common_password", "sequential"]),
    ],
)
def test_policy_violations_are_reported_by_code(password: str, expected: list[str]) -> None:
    assert check_password(password, POLICY, []) == expected


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("uvwxyzabcdefghijklmnopqrstuvwx", ["sequential"]),  # wraps past z
        ("89012345678901234567890", ["sequential"]),  # wraps past 9
        ("lkjhgfdsalkjhgfdsa", ["sequential"]),
        ("k9!k9!k9!k9!k9!", ["repetitive"]),  # a short unit repeated
        ("q7#xq7#xq7#xq7#x", ["repetitive"]),
        ("poiuytrewqpoiu", ["sequential"]),  # keyboard row, reversed, wrapping
        ("zzzzzzzzzzzzzy", ["repetitive"]),  # two distinct characters
    ],
)
def test_structural_checks_work_without_the_list(password: str, expected: list[str]) -> None:
    assert check_password(password, PasswordPolicy(check_breached=False)) == expected


def test_too_long_stops_further_checks() -> None:
    assert check_password("a" * 129, POLICY, ["aaaa"]) == ["too_long"]


def test_boundaries_are_inclusive() -> None:
    assert check_password("kq8vz3mwpt2x", POLICY) == []  # exactly 12
    assert check_password("kq8vz3mwpt2", POLICY) == ["too_short"]
    assert check_password("kq8vz3mwpt2x" * 10 + "kq8vz3mw", POLICY) == []  # exactly 128


def test_breach_check_can_be_switched_off() -> None:
    policy = PasswordPolicy(check_breached=False)
    assert check_password("password1234", policy) == []


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("jane.doe is my name!", ["jane.doe@example.com"]),  # email local part
        ("JaneDoe lives here 9", ["jane.doe@example.com"]),  # joined, any case
        ("margaret-walks-the-dog", ["Margaret Smith"]),  # a name word
        ("riverside is the best", ["Riverside Counseling"]),  # the practice name
        ("i love counseling work", ["Riverside Counseling"]),
        ("r-i-v-e-r-s-i-d-e 2031", ["Riverside Counseling"]),  # separators do not hide it
    ],
)
def test_passwords_containing_the_users_context_are_rejected(
    password: str, context: list[str]
) -> None:
    assert "contains_context" in check_password(password, POLICY, context)


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("a totally different phrase", ["Al Xu"]),  # name parts under 4 characters
        ("example of a good phrase", ["jane@example.com"]),  # the email domain is not used
    ],
)
def test_short_or_domain_context_does_not_reject(password: str, context: list[str]) -> None:
    assert check_password(password, POLICY, context) == []


def test_the_shipped_common_list_is_large_lower_case_and_clean() -> None:
    common = common_passwords()
    assert len(common) >= 10_000
    assert {"123456", "password", "letmein", "qwerty123", "trustno1"} <= common
    assert all(p == p.strip() and p == p.lower() and p for p in common)
