"""Pure parts of the envelope: the cache, the ciphertext format, the shared wire helpers.

The adapters and the cipher end to end are in tests/contract/test_keys_contract.py.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from tpm.adapters.keys.base import canonical_context, join_header, split_header
from tpm.adapters.store.base import (
    Absent,
    CallCounter,
    Condition,
    ConditionFailed,
    Item,
    Operation,
    Page,
    Put,
    VersionIs,
)
from tpm.clock import FixedClock
from tpm.errors import IntegrityError
from tpm.security.envelope import (
    PREFIX,
    FieldCipher,
    TtlLru,
    check_kind,
    data_key_context,
)

T0 = datetime(2025, 3, 1, tzinfo=UTC)

# ---- TtlLru -------------------------------------------------------------------------------


def test_cache_returns_what_was_stored_until_it_expires() -> None:
    clock = FixedClock(T0)
    cache: TtlLru[str, int] = TtlLru(size=4, seconds=60, clock=clock)
    cache.put("a", 1)
    clock.advance(seconds=59.9)
    assert cache.get("a") == 1
    clock.advance(seconds=0.1)
    assert cache.get("a") is None
    assert len(cache) == 0  # an expired entry is dropped, not kept in memory


def test_cache_expiry_counts_from_storing_not_from_last_use() -> None:
    clock = FixedClock(T0)
    cache: TtlLru[str, int] = TtlLru(size=4, seconds=60, clock=clock)
    cache.put("a", 1)
    for _ in range(5):
        clock.advance(seconds=11)
        assert cache.get("a") == 1
    clock.advance(seconds=5)
    assert cache.get("a") is None


def test_cache_evicts_the_least_recently_used_beyond_its_size() -> None:
    cache: TtlLru[str, int] = TtlLru(size=2, seconds=60, clock=FixedClock(T0))
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_cache_discard_and_bad_sizes() -> None:
    cache: TtlLru[str, int] = TtlLru(size=1, seconds=1, clock=FixedClock(T0))
    cache.put("a", 1)
    cache.discard("a")
    cache.discard("missing")
    assert cache.get("a") is None
    with pytest.raises(ValueError, match="positive"):
        TtlLru(size=0, seconds=1, clock=FixedClock(T0))
    with pytest.raises(ValueError, match="positive"):
        TtlLru(size=1, seconds=0, clock=FixedClock(T0))


# ---- shared wire helpers ------------------------------------------------------------------


def test_canonical_context_ignores_order_and_rejects_non_strings() -> None:
    a = canonical_context({"practice": "p", "kind": "k"})
    assert a == canonical_context({"kind": "k", "practice": "p"})
    assert a == b'{"kind":"k","practice":"p"}'
    assert canonical_context({"k": "é"}) == b'{"k":"\\u00e9"}'  # ASCII, one spelling
    with pytest.raises(ValueError, match="context"):
        canonical_context({})
    with pytest.raises(ValueError, match="context"):
        canonical_context({"n": 1})  # type: ignore[dict-item]


@pytest.mark.parametrize("width", [1, 2])
def test_wrapped_header_round_trip_and_damage(width: int) -> None:
    blob = join_header(1, width, "mk_1", b"rest")
    assert blob[0] == 1
    assert split_header(blob, 1, width) == ("mk_1", b"rest")
    for damaged in [b"", blob[:width], b"\x02" + blob[1:], blob[: 1 + width + 2]]:
        with pytest.raises(IntegrityError):
            split_header(damaged, 1, width)
    zero_length = bytes([1]) + (0).to_bytes(width, "big") + b"rest"
    with pytest.raises(IntegrityError):
        split_header(zero_length, 1, width)
    not_ascii = bytes([1]) + (2).to_bytes(width, "big") + b"\xff\xfe" + b"rest"
    with pytest.raises(IntegrityError):
        split_header(not_ascii, 1, width)


def test_data_key_context_has_no_phi_only_ids() -> None:
    assert data_key_context("prc_1", "patient", "dk_1") == {
        "practice": "prc_1",
        "kind": "patient",
        "dk": "dk_1",
    }


@pytest.mark.parametrize("kind", ["patient", "note-psychotherapy", "blind-index", "a1"])
def test_record_kinds_accepted(kind: str) -> None:
    assert check_kind(kind) == kind


@pytest.mark.parametrize("kind", ["", "Patient", "a#b", "1a", "a" * 41, "pat ient"])
def test_record_kinds_rejected(kind: str) -> None:
    with pytest.raises(ValueError, match="kind"):
        check_kind(kind)


# ---- the ciphertext format, with in-memory fakes of the two ports -------------------------


class MemoryStore:
    """A dict with the store's conditional writes; enough for FieldCipher."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], Item] = {}
        self.calls = CallCounter()

    def practice(self, practice_id: str) -> MemoryPractice:
        return MemoryPractice(self, practice_id)

    def close(self) -> None:
        pass


class MemoryPractice:
    def __init__(self, store: MemoryStore, practice_id: str) -> None:
        self.store, self.practice_id = store, practice_id

    def get(self, pk: str, sk: str) -> Item | None:
        item = self.store.items.get((self.practice_id, pk, sk))
        return dict(item) if item else None

    def put(self, item: Item, condition: Condition | None = None) -> None:
        self.transact([Put(item, condition)])

    def delete(self, pk: str, sk: str, condition: Condition | None = None) -> None:
        raise NotImplementedError

    def query(self, pk: str, **_: object) -> Page:
        raise NotImplementedError

    def transact(self, operations: Sequence[Operation]) -> None:
        for i, op in enumerate(operations):
            assert isinstance(op, Put)
            stored = self.get(op.item["pk"], op.item["sk"])
            if isinstance(op.condition, Absent) and stored is not None:
                raise ConditionFailed(i)
            if isinstance(op.condition, VersionIs) and (
                stored is None or stored["version"] != op.condition.version
            ):
                raise ConditionFailed(i)
        for op in operations:
            assert isinstance(op, Put)
            self.store.items[(self.practice_id, op.item["pk"], op.item["sk"])] = dict(op.item)


class XorMasterKey:
    """A deliberately trivial master key: enough to exercise the cipher's own format."""

    key_id = "xor"

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def generate_data_key(self, context: dict[str, str]) -> tuple[bytes, bytes]:
        self.calls["generate_data_key"] += 1
        plaintext = bytes(range(32))
        return plaintext, self._seal(plaintext, context)

    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        self.calls["unwrap"] += 1
        if wrapped[32:] != canonical_context(context):
            raise IntegrityError()
        return bytes(b ^ 0x5A for b in wrapped[:32])

    def rewrap(
        self, wrapped: bytes, context: dict[str, str], to_key_id: str | None = None
    ) -> bytes:
        return wrapped

    def wrapped_by(self, wrapped: bytes) -> str:
        return "xor"

    def begin_rotation(self, to_key_id: str | None = None) -> str:
        return "xor"

    def _seal(self, plaintext: bytes, context: dict[str, str]) -> bytes:
        return bytes(b ^ 0x5A for b in plaintext) + canonical_context(context)


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(XorMasterKey(), MemoryStore(), FixedClock(T0))


def _raw(ciphertext: str) -> bytes:
    body = ciphertext[len(PREFIX) :]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def test_ciphertext_layout_byte_by_byte(cipher: FieldCipher) -> None:
    ct = cipher.encrypt_text("prc_1", "patient", "pat_1", "name", "Jane")
    assert ct.startswith("tpm1:")
    assert re.fullmatch(r"tpm1:[A-Za-z0-9_-]+", ct)  # URL-safe, no padding
    raw = _raw(ct)
    dk_len = raw[1]
    assert raw[0] == 0x01
    assert re.fullmatch(rb"dk_[0-9a-z]{26}", raw[2 : 2 + dk_len])
    # version + length + dk id + nonce (12) + "Jane" (4) + tag (16)
    assert len(raw) == 2 + dk_len + 12 + 4 + 16


def test_same_value_encrypts_differently_each_time(cipher: FieldCipher) -> None:
    a = cipher.encrypt_text("prc_1", "patient", "pat_1", "name", "Jane")
    b = cipher.encrypt_text("prc_1", "patient", "pat_1", "name", "Jane")
    assert a != b
    assert _raw(a)[:31] == _raw(b)[:31]  # same data key
    assert _raw(a)[31:43] != _raw(b)[31:43]  # fresh nonce


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "tpm1",
        "tpm2:AQ",
        "TPM1:AQ",
        "tpm1:",
        "tpm1:AQ",  # version only
        "tpm1:AgA",  # unknown version 2
        "tpm1:a+b/",  # standard-alphabet base64 is not ours
        "tpm1:AQ==",  # padding is not ours either
    ],
)
def test_malformed_ciphertexts_fail_loudly(cipher: FieldCipher, bad: str) -> None:
    with pytest.raises(IntegrityError):
        cipher.decrypt_text("prc_1", "patient", "pat_1", "name", bad)


def test_unknown_format_version_is_refused_even_if_otherwise_intact(cipher: FieldCipher) -> None:
    ct = cipher.encrypt_text("prc_1", "patient", "pat_1", "name", "Jane")
    raw = bytearray(_raw(ct))
    raw[0] = 0x02
    forged = PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(IntegrityError, match="format version"):
        cipher.decrypt_text("prc_1", "patient", "pat_1", "name", forged)


def test_a_non_string_ciphertext_is_refused(cipher: FieldCipher) -> None:
    with pytest.raises(IntegrityError):
        cipher.decrypt_bytes("prc_1", "patient", "pat_1", "name", b"tpm1:AQ")  # type: ignore[arg-type]


def test_record_and_field_are_required(cipher: FieldCipher) -> None:
    with pytest.raises(ValueError, match="required"):
        cipher.encrypt_text("prc_1", "patient", "", "name", "Jane")
    with pytest.raises(ValueError, match="required"):
        cipher.encrypt_text("prc_1", "patient", "pat_1", "", "Jane")


def test_errors_never_echo_the_value(cipher: FieldCipher) -> None:
    ct = cipher.encrypt_text("prc_1", "patient", "pat_1", "name", "Jane Doe")
    with pytest.raises(IntegrityError) as caught:
        cipher.decrypt_text("prc_1", "patient", "pat_1", "phone", ct)
    assert "Jane" not in str(caught.value)
    assert ct[5:20] not in str(caught.value)
    assert caught.value.details == {}


def test_blind_index_purpose_must_be_a_label(cipher: FieldCipher) -> None:
    with pytest.raises(ValueError, match="purpose"):
        cipher.blind_index("prc_1", "", "x")
    with pytest.raises(ValueError, match="purpose"):
        cipher.blind_index("prc_1", "naïve", "x")
