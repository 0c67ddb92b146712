"""One suite over both master-key adapters: LocalMasterKey (key files in a temp dir) and
KmsMasterKey (moto KMS), plus FieldCipher and rotation on top of each, over both stores
(SQLite and moto DynamoDB, from conftest's `store`)."""

from __future__ import annotations

import base64
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from tpm.adapters.keys import MasterKey, local_key_dir, open_master_key
from tpm.adapters.keys.kms import KmsMasterKey
from tpm.adapters.keys.local import InsecureKeyFileError, LocalMasterKey
from tpm.adapters.store.base import Item, Operation, Page, PracticeStore, Store
from tpm.adapters.store.sqlite import SqliteStore
from tpm.clock import FixedClock
from tpm.errors import DependencyUnavailable, IntegrityError
from tpm.security.envelope import KEYRING_PK, FieldCipher, data_key_rows
from tpm.services.key_rotation import rotate_master_key

pytestmark = pytest.mark.contract

CONTEXT = {"practice": "prc_a", "kind": "patient", "dk": "dk_01jabcdefghjkmnpqrstvwxyz0"}
PHI = "Jane Q. Doe, DOB 1984-02-29, 555-0100, reports panic attacks"


@dataclass
class Keys:
    name: str
    master: MasterKey
    make_second: Callable[[], str]
    """Creates another master key and returns its canonical id (not activated)."""


@pytest.fixture(params=["local", "kms"])
def keys(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Keys]:
    if request.param == "local":
        local = LocalMasterKey(tmp_path / "keys")
        yield Keys("local", local, lambda: local.create_new_master(activate=False))
        return
    with mock_aws():
        client = boto3.client("kms", region_name="us-east-1")
        key_arn = client.create_key(Description="tpm phi")["KeyMetadata"]["Arn"]
        client.create_alias(AliasName="alias/tpm-phi", TargetKeyId=key_arn)

        def second() -> str:
            return client.create_key(Description="tpm phi 2")["KeyMetadata"]["Arn"]

        yield Keys("kms", KmsMasterKey("alias/tpm-phi", client=client), second)


@pytest.fixture(autouse=True)
def _no_real_aws(aws_env: None) -> None:
    """Every test here gets conftest's fake credentials, stubbed or not."""


# `store` (SQLite and moto DynamoDB), `sqlite_store` and `clock` come from conftest.py.


def cipher(keys: Keys, store: Store, clock: FixedClock, **options: Any) -> FieldCipher:
    return FieldCipher(keys.master, store, clock, **options)


def canonical_id(keys: Keys) -> str:
    _, blob = keys.master.generate_data_key(CONTEXT)
    return keys.master.wrapped_by(blob)


def dk_id_of(ciphertext: str) -> str:
    """The data key id a field ciphertext names (bytes 2.. of the body)."""
    raw = base64.urlsafe_b64decode(ciphertext[5:] + "==")
    return raw[2 : 2 + raw[1]].decode()


def flipped(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


# ---- the master-key port ----------------------------------------------------------------


def test_data_key_round_trip(keys: Keys) -> None:
    plaintext, wrapped = keys.master.generate_data_key(CONTEXT)
    assert len(plaintext) == 32
    assert plaintext not in wrapped
    assert keys.master.unwrap(wrapped, dict(reversed(CONTEXT.items()))) == plaintext
    assert keys.master.generate_data_key(CONTEXT)[0] != plaintext


def test_wrap_takes_an_existing_data_key(keys: Keys) -> None:
    """A restored practice's data keys arrive made; the target's master key wraps them."""
    plaintext, _ = keys.master.generate_data_key(CONTEXT)
    wrapped = keys.master.wrap(plaintext, CONTEXT)
    assert keys.master.unwrap(wrapped, CONTEXT) == plaintext
    assert keys.master.wrapped_by(wrapped) == keys.master.wrapped_by(
        keys.master.generate_data_key(CONTEXT)[1]
    )
    with pytest.raises(IntegrityError):
        keys.master.unwrap(wrapped, {**CONTEXT, "kind": "other"})
    with pytest.raises(IntegrityError):
        keys.master.wrap(plaintext[:16], CONTEXT)


def test_every_byte_of_a_wrapped_key_is_protected(keys: Keys) -> None:
    _, wrapped = keys.master.generate_data_key(CONTEXT)
    for i in range(len(wrapped)):
        with pytest.raises(IntegrityError):
            keys.master.unwrap(flipped(wrapped, i), CONTEXT)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b"",
        lambda b: b[:1],
        lambda b: b[:-1],
        lambda b: b + b"\x00",
        lambda b: b"\x02" + b[1:],
    ],
    ids=["empty", "version only", "truncated", "extended", "unknown version"],
)
def test_malformed_wrapped_keys_fail_loudly(keys: Keys, damage: Callable[[bytes], bytes]) -> None:
    _, wrapped = keys.master.generate_data_key(CONTEXT)
    with pytest.raises(IntegrityError):
        keys.master.unwrap(damage(wrapped), CONTEXT)


@pytest.mark.parametrize(
    "context",
    [
        {**CONTEXT, "practice": "prc_b"},
        {**CONTEXT, "kind": "note"},
        {**CONTEXT, "dk": "dk_01jabcdefghjkmnpqrstvwxyz1"},
        {**CONTEXT, "extra": "x"},
        {k: v for k, v in CONTEXT.items() if k != "dk"},
    ],
    ids=["practice", "kind", "data key", "extra entry", "missing entry"],
)
def test_wrong_context_fails(keys: Keys, context: dict[str, str]) -> None:
    _, wrapped = keys.master.generate_data_key(CONTEXT)
    with pytest.raises(IntegrityError):
        keys.master.unwrap(wrapped, context)
    with pytest.raises(IntegrityError):
        keys.master.rewrap(wrapped, context)


def test_blob_pointed_at_another_master_key_fails(keys: Keys) -> None:
    # GIVEN a blob wrapped by the active key and a second key the caller may also use
    _, wrapped = keys.master.generate_data_key(CONTEXT)
    first, second = keys.master.wrapped_by(wrapped), keys.make_second()
    assert first != second
    # WHEN its header is rewritten to name the second key THEN it does not open
    width = 1 if keys.name == "local" else 2
    forged = wrapped.replace(
        len(first).to_bytes(width, "big") + first.encode(),
        len(second).to_bytes(width, "big") + second.encode(),
        1,
    )
    assert forged != wrapped
    with pytest.raises(IntegrityError):
        keys.master.unwrap(forged, CONTEXT)


def test_rewrap_moves_a_data_key_to_another_master_key(keys: Keys) -> None:
    plaintext, wrapped = keys.master.generate_data_key(CONTEXT)
    second = keys.make_second()
    moved = keys.master.rewrap(wrapped, CONTEXT, to_key_id=second)
    assert keys.master.wrapped_by(moved) == second
    assert keys.master.unwrap(moved, CONTEXT) == plaintext
    assert keys.master.unwrap(wrapped, CONTEXT) == plaintext  # the old key still works


# ---- local key files --------------------------------------------------------------------


def test_local_key_files_are_private(tmp_path: Path) -> None:
    master = LocalMasterKey(tmp_path / "keys")
    master.create_new_master()
    directory = tmp_path / "keys"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = sorted(directory.iterdir())
    assert [p.name for p in files if p.name.startswith("master-")] == [
        f"master-{k}.key" for k in master.master_key_ids()
    ]
    assert len(master.master_key_ids()) == 2
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        if path.name.startswith("master-"):
            assert path.stat().st_size == 32
    assert (directory / "active").read_text() == master.key_id


def test_local_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    master = LocalMasterKey(tmp_path / "keys")
    _, wrapped = master.generate_data_key(CONTEXT)
    (tmp_path / "keys" / f"master-{master.key_id}.key").chmod(0o644)
    with pytest.raises(InsecureKeyFileError):
        LocalMasterKey(tmp_path / "keys").unwrap(wrapped, CONTEXT)


def test_local_key_from_another_directory_cannot_unwrap(tmp_path: Path) -> None:
    _, wrapped = LocalMasterKey(tmp_path / "one").generate_data_key(CONTEXT)
    with pytest.raises(IntegrityError):
        LocalMasterKey(tmp_path / "two").unwrap(wrapped, CONTEXT)


def test_local_reopened_directory_keeps_its_active_key(tmp_path: Path) -> None:
    first = LocalMasterKey(tmp_path / "keys")
    plaintext, wrapped = first.generate_data_key(CONTEXT)
    again = LocalMasterKey(tmp_path / "keys")
    assert again.key_id == first.key_id
    assert again.unwrap(wrapped, CONTEXT) == plaintext


def test_open_master_key_by_url(tmp_path: Path) -> None:
    local = open_master_key(f"local://{tmp_path}/k")
    assert isinstance(local, LocalMasterKey)
    assert local.directory == tmp_path / "k"
    assert local_key_dir(f"local:///{tmp_path}/k") == f"{tmp_path}/k"  # four slashes
    assert local_key_dir("local:///.tpm/keys") == ".tpm/keys"  # the default is relative
    kms = open_master_key("kms://alias/tpm-phi")
    assert isinstance(kms, KmsMasterKey)
    assert kms.key_id == "alias/tpm-phi"
    for bad in ("file:///x", "kms://", "local://relative", "local:///"):
        with pytest.raises(ValueError, match="key URL"):
            open_master_key(bad)


# ---- KMS failure paths ------------------------------------------------------------------


def _stubbed_kms() -> tuple[KmsMasterKey, Stubber]:
    client = boto3.client("kms", region_name="us-east-1")
    return KmsMasterKey("alias/tpm-phi", client=client), Stubber(client)


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "KMSInternalException", "DependencyTimeoutException"]
)
def test_kms_outage_is_dependency_unavailable(code: str) -> None:
    master, stub = _stubbed_kms()
    stub.add_client_error("generate_data_key", service_error_code=code, http_status_code=500)
    stub.add_client_error("decrypt", service_error_code=code, http_status_code=500)
    stub.add_client_error("re_encrypt", service_error_code=code, http_status_code=500)
    blob = b"\x01\x00\x05alias" + b"x" * 40
    with stub:
        with pytest.raises(DependencyUnavailable) as generate:
            master.generate_data_key(CONTEXT)
        with pytest.raises(DependencyUnavailable):
            master.unwrap(blob, CONTEXT)
        with pytest.raises(DependencyUnavailable):
            master.rewrap(blob, CONTEXT, to_key_id="alias/other")
    assert generate.value.details == {"service": "kms", "error": code}


def test_kms_unreachable_is_dependency_unavailable() -> None:
    # Port 9 (discard) on loopback refuses at once: a real connection failure, no network.
    client = boto3.client(
        "kms",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )
    with pytest.raises(DependencyUnavailable):
        KmsMasterKey("alias/tpm-phi", client=client).generate_data_key(CONTEXT)


def test_kms_rejected_blob_is_integrity_error_and_config_errors_stay_visible() -> None:
    master, stub = _stubbed_kms()
    stub.add_client_error("decrypt", service_error_code="InvalidCiphertextException")
    stub.add_client_error("decrypt", service_error_code="IncorrectKeyException")
    stub.add_client_error("generate_data_key", service_error_code="AccessDeniedException")
    blob = b"\x01\x00\x05alias" + b"x" * 40
    with stub:
        for _ in range(2):
            with pytest.raises(IntegrityError):
                master.unwrap(blob, CONTEXT)
        # A role without kms:GenerateDataKey is a deployment bug, not an outage to retry.
        with pytest.raises(ClientError, match="AccessDenied") as denied:
            master.generate_data_key(CONTEXT)
    assert not isinstance(denied.value, DependencyUnavailable | IntegrityError)


def test_kms_outage_surfaces_through_the_cipher(store: Store, clock: FixedClock) -> None:
    master, stub = _stubbed_kms()
    stub.add_client_error("generate_data_key", service_error_code="ThrottlingException")
    with stub, pytest.raises(DependencyUnavailable):
        FieldCipher(master, store, clock).encrypt_text("prc_a", "patient", "pat_1", "name", PHI)
    assert store.practice("prc_a").get(KEYRING_PK, "CURRENT#patient") is None


def test_kms_client_is_created_lazily_once() -> None:
    master = KmsMasterKey("alias/tpm-phi")
    assert master._client is None  # nothing created at construction (cold start)
    assert master.client is master.client


# ---- FieldCipher over each master key ---------------------------------------------------


@pytest.mark.parametrize("value", ["", "a", PHI, "naïve café 日本 🙂", "x" * 100_000])
def test_field_round_trip(keys: Keys, store: Store, clock: FixedClock, value: str) -> None:
    c = cipher(keys, store, clock)
    ct = c.encrypt_text("prc_a", "patient", "pat_1", "name", value)
    assert ct.startswith("tpm1:")
    assert c.decrypt_text("prc_a", "patient", "pat_1", "name", ct) == value
    assert c.encrypt_text("prc_a", "patient", "pat_1", "name", value) != ct  # fresh nonce


def test_bytes_round_trip(keys: Keys, store: Store, clock: FixedClock) -> None:
    c = cipher(keys, store, clock)
    blob = bytes(range(256)) * 3
    ct = c.encrypt_bytes("prc_a", "document", "doc_1", "content", blob)
    assert c.decrypt_bytes("prc_a", "document", "doc_1", "content", ct) == blob
    with pytest.raises(IntegrityError):  # not UTF-8: bytes read as text fail loudly
        c.decrypt_text("prc_a", "document", "doc_1", "content", ct)


@pytest.mark.parametrize(
    "where",
    [
        ("prc_b", "patient", "pat_1", "name"),
        ("prc_a", "note", "pat_1", "name"),
        ("prc_a", "patient", "pat_2", "name"),
        ("prc_a", "patient", "pat_1", "phone"),
    ],
    ids=["other practice", "other kind", "other record", "other field"],
)
def test_ciphertext_moved_elsewhere_fails(
    keys: Keys, store: Store, clock: FixedClock, where: tuple[str, str, str, str]
) -> None:
    c = cipher(keys, store, clock)
    ct = c.encrypt_text("prc_a", "patient", "pat_1", "name", PHI)
    c.encrypt_text(where[0], where[1], "pat_9", "name", "x")  # the target has keys too
    with pytest.raises(IntegrityError):
        c.decrypt_text(*where, ct)


def test_every_character_of_a_ciphertext_is_protected(
    keys: Keys, store: Store, clock: FixedClock
) -> None:
    c = cipher(keys, store, clock)
    ct = c.encrypt_text("prc_a", "patient", "pat_1", "name", "Jane")
    alphabet = "AB"
    for i in range(len(ct)):
        other = alphabet[0] if ct[i] != alphabet[0] else alphabet[1]
        with pytest.raises(IntegrityError):
            c.decrypt_text("prc_a", "patient", "pat_1", "name", ct[:i] + other + ct[i + 1 :])


def test_every_byte_region_of_a_ciphertext_is_protected(
    keys: Keys, store: Store, clock: FixedClock
) -> None:
    c = cipher(keys, store, clock)
    ct = c.encrypt_text("prc_a", "patient", "pat_1", "name", PHI)
    raw = base64.urlsafe_b64decode(ct[5:] + "==")
    # version | id length | dk id | nonce | ciphertext | tag: flip every single byte
    for i in range(len(raw)):
        forged = "tpm1:" + base64.urlsafe_b64encode(flipped(raw, i)).decode().rstrip("=")
        with pytest.raises(IntegrityError):
            c.decrypt_text("prc_a", "patient", "pat_1", "name", forged)
    for bad in ["", "tpm1:", "tpm2:" + ct[5:], "tpm1:" + ct[5:-4], "tpm1:***", ct + "A"]:
        with pytest.raises(IntegrityError):
            c.decrypt_text("prc_a", "patient", "pat_1", "name", bad)


def test_a_data_key_from_another_practice_keyring_is_refused(
    keys: Keys, store: Store, clock: FixedClock
) -> None:
    # GIVEN practice B's wrapped key row copied into practice A's keyring under A's name
    c = cipher(keys, store, clock)
    ct_b = c.encrypt_text("prc_b", "patient", "pat_1", "name", PHI)
    row = next(data_key_rows(store.practice("prc_b")))
    store.practice("prc_a").put(dict(row))
    # THEN A cannot use it: the wrapping is bound to practice B's context
    with pytest.raises(IntegrityError):
        cipher(keys, store, clock).decrypt_text("prc_a", "patient", "pat_1", "name", ct_b)


def test_one_master_key_call_per_data_key_while_cached(
    keys: Keys, store: Store, clock: FixedClock
) -> None:
    c = cipher(keys, store, clock, cache_seconds=300)
    cts = [c.encrypt_text("prc_a", "patient", f"pat_{i}", "name", PHI) for i in range(1000)]
    assert keys.master.calls == {"generate_data_key": 1}
    for i, ct in enumerate(cts):
        assert c.decrypt_text("prc_a", "patient", f"pat_{i}", "name", ct) == PHI
    assert keys.master.calls == {"generate_data_key": 1}  # the new key went into the cache

    # WHEN the cache period passes THEN one unwrap serves every later decrypt
    clock.advance(seconds=301)
    for i, ct in enumerate(cts[:50]):
        c.decrypt_text("prc_a", "patient", f"pat_{i}", "name", ct)
    assert keys.master.calls == {"generate_data_key": 1, "unwrap": 1}


def test_cold_cipher_unwraps_once_per_data_key(keys: Keys, store: Store, clock: FixedClock) -> None:
    ct = cipher(keys, store, clock).encrypt_text("prc_a", "patient", "pat_1", "name", PHI)
    keys.master.calls.clear()
    store.calls.reset()
    cold = cipher(keys, store, clock)  # another Lambda container, same table
    for _ in range(20):
        assert cold.decrypt_text("prc_a", "patient", "pat_1", "name", ct) == PHI
        cold.encrypt_text("prc_a", "patient", "pat_2", "name", PHI)
    assert keys.master.calls == {"unwrap": 1}
    assert store.calls.counts == {"get": 2}  # the data key row, then the current pointer


def test_cache_is_bounded(keys: Keys, store: Store, clock: FixedClock) -> None:
    c = cipher(keys, store, clock, cache_size=2)
    kinds = ["patient", "note", "message"]
    cts = {k: c.encrypt_text("prc_a", k, "rec_1", "body", PHI) for k in kinds}
    keys.master.calls.clear()
    # Only the two most recent data keys are still held: "patient" must be unwrapped again.
    c.decrypt_text("prc_a", "message", "rec_1", "body", cts["message"])
    c.decrypt_text("prc_a", "note", "rec_1", "body", cts["note"])
    assert keys.master.calls == {}
    c.decrypt_text("prc_a", "patient", "rec_1", "body", cts["patient"])
    assert keys.master.calls == {"unwrap": 1}


def test_old_data_key_is_replaced_and_still_decrypts(
    keys: Keys, store: Store, clock: FixedClock
) -> None:
    c = cipher(keys, store, clock, data_key_max_age_days=30)
    old = c.encrypt_text("prc_a", "patient", "pat_1", "name", PHI)
    clock.advance(days=29)
    assert dk_id_of(c.encrypt_text("prc_a", "patient", "pat_1", "name", PHI)) == dk_id_of(old)
    clock.advance(days=1)
    new = c.encrypt_text("prc_a", "patient", "pat_1", "name", PHI)
    assert dk_id_of(new) != dk_id_of(old)
    assert keys.master.calls["generate_data_key"] == 2
    fresh = cipher(keys, store, clock)
    assert fresh.decrypt_text("prc_a", "patient", "pat_1", "name", old) == PHI
    assert fresh.decrypt_text("prc_a", "patient", "pat_1", "name", new) == PHI
    assert len(list(data_key_rows(store.practice("prc_a")))) == 2


class _StaleFirstPointerRead:
    """A store whose first read of a 'current' pointer misses, as when two containers
    cold-start at the same moment and both see no key yet. Everything else is real."""

    def __init__(self, real: Store) -> None:
        self.real, self.calls, self.missed = real, real.calls, False

    def practice(self, practice_id: str) -> PracticeStore:
        return _StalePractice(self, self.real.practice(practice_id))

    def close(self) -> None:
        self.real.close()


class _StalePractice:
    def __init__(self, owner: _StaleFirstPointerRead, real: PracticeStore) -> None:
        self.owner, self.real, self.practice_id = owner, real, real.practice_id

    def get(self, pk: str, sk: str) -> Item | None:
        if sk.startswith("CURRENT#") and not self.owner.missed:
            self.owner.missed = True
            return None
        return self.real.get(pk, sk)

    def put(self, item: Item, condition: Any = None) -> None:
        self.real.put(item, condition)

    def delete(self, pk: str, sk: str, condition: Any = None) -> None:
        self.real.delete(pk, sk, condition)

    def query(self, pk: str, **kwargs: Any) -> Page:
        return self.real.query(pk, **kwargs)

    def transact(self, operations: Sequence[Operation]) -> None:
        self.real.transact(operations)


def test_concurrent_cold_starts_agree_on_one_data_key(
    keys: Keys, store: Store, clock: FixedClock
) -> None:
    first = cipher(keys, store, clock)
    ct = first.encrypt_text("prc_a", "patient", "pat_1", "name", PHI)
    late = cipher(keys, _StaleFirstPointerRead(store), clock)
    # The late starter made a key too, lost the Absent race and adopted the winner's.
    ct_late = late.encrypt_text("prc_a", "patient", "pat_2", "name", PHI)
    assert dk_id_of(ct_late) == dk_id_of(ct)
    assert len(list(data_key_rows(store.practice("prc_a")))) == 1
    assert first.decrypt_text("prc_a", "patient", "pat_2", "name", ct_late) == PHI
    assert late.decrypt_text("prc_a", "patient", "pat_1", "name", ct) == PHI


def test_blind_index_is_stable_per_practice_and_differs_across(
    keys: Keys, store: Store, clock: FixedClock
) -> None:
    c = cipher(keys, store, clock, data_key_max_age_days=1)
    a = c.blind_index("prc_a", "name", "jane doe")
    assert a == c.blind_index("prc_a", "name", "jane doe")
    clock.advance(days=400)  # the blind-index key is never replaced by age
    assert cipher(keys, store, clock).blind_index("prc_a", "name", "jane doe") == a
    assert c.blind_index("prc_b", "name", "jane doe") != a
    assert c.blind_index("prc_a", "phone", "jane doe") != a
    assert c.blind_index("prc_a", "name", "jane doe ") != a
    assert "jane" not in a
    assert len(a) == 43  # 32-byte HMAC-SHA256, base64url without padding


# ---- no plaintext reaches the store -----------------------------------------------------


def test_no_plaintext_reaches_the_store(
    keys: Keys, sqlite_store: SqliteStore, clock: FixedClock
) -> None:
    store = sqlite_store
    c = cipher(keys, store, clock)
    practice = store.practice("prc_a")
    for i, field in enumerate(["name", "notes", "address"]):
        practice.put(
            {
                "pk": "PATIENT#pat_1",
                "sk": f"FIELD#{i}",
                field: c.encrypt_text("prc_a", "patient", "pat_1", field, PHI),
                "name_bidx": c.blind_index("prc_a", "name", PHI),
            }
        )
    data_keys = [
        keys.master.unwrap(bytes(row["wrapped"]), _ctx(row)) for row in data_key_rows(practice)
    ]
    assert len(data_keys) == 2  # patient + blind-index
    store.close()

    raw = _raw_database_text(store.path)
    for secret in [PHI.encode(), *data_keys]:
        for form in _encodings(secret):
            assert form not in raw
    assert b"PATIENT#pat_1" in raw  # the probe does see the rows


def _ctx(row: Item) -> dict[str, str]:
    return {"practice": "prc_a", "kind": str(row["kind"]), "dk": str(row["dk_id"])}


def _raw_database_text(path: Path) -> bytes:
    """Every cell of every table, read with sqlite3 itself, plus the files' raw bytes."""
    cells: list[bytes] = []
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - names from sqlite
                cells.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
    conn.close()
    files = [p.read_bytes() for p in path.parent.glob(path.name + "*")]
    return b"\n".join(cells + files)


def _encodings(secret: bytes) -> list[bytes]:
    b64 = base64.b64encode(secret)
    url = base64.urlsafe_b64encode(secret)
    forms = [secret, b64, b64.rstrip(b"="), url.rstrip(b"="), secret.hex().encode()]
    # base64 of the secret at each alignment inside a longer blob
    forms += [base64.b64encode(b"\x00" * n + secret)[4:-4] for n in (1, 2)]
    return [f for f in forms if f]


# ---- rotation ---------------------------------------------------------------------------


def _populate(c: FieldCipher, practices: Sequence[str]) -> dict[tuple[str, str], str]:
    out = {}
    for p in practices:
        for kind in ("patient", "note"):
            out[(p, kind)] = c.encrypt_text(p, kind, "rec_1", "body", f"{PHI} {p} {kind}")
        c.blind_index(p, "name", "jane doe")
    return out


def _all_decrypt(
    keys: Keys, store: Store, clock: FixedClock, cts: dict[tuple[str, str], str]
) -> None:
    fresh = cipher(keys, store, clock)
    for (p, kind), ct in cts.items():
        assert fresh.decrypt_text(p, kind, "rec_1", "body", ct) == f"{PHI} {p} {kind}"


def test_rotation_rewraps_every_data_key_and_keeps_data_readable(
    keys: Keys, store: Store, clock: FixedClock
) -> None:
    # GIVEN two practices with data keys under the first master key
    practices = ["prc_a", "prc_b"]
    c = cipher(keys, store, clock)
    cts = _populate(c, practices)
    index_before = c.blind_index("prc_a", "name", "jane doe")
    first = canonical_id(keys)
    target = None if keys.name == "local" else keys.make_second()

    # WHEN the master key is rotated
    report = rotate_master_key(store, keys.master, practices, new_key_id=target)

    # THEN every row is wrapped by the new key, and every old ciphertext still decrypts
    assert report.target_key_id != first
    if target is not None:
        assert report.target_key_id == target
    assert (report.practices, report.rewrapped, report.already_current) == (2, 6, 0)
    assert report.by_practice == {"prc_a": 3, "prc_b": 3}
    for p in practices:
        for row in data_key_rows(store.practice(p)):
            assert keys.master.wrapped_by(bytes(row["wrapped"])) == report.target_key_id
            assert row["master_key_id"] == report.target_key_id
            assert row["version"] == 2
    _all_decrypt(keys, store, clock, cts)
    assert cipher(keys, store, clock).blind_index("prc_a", "name", "jane doe") == index_before
    # New data keys are wrapped by the new key too.
    assert canonical_id(keys) == report.target_key_id


def test_rotation_is_idempotent(keys: Keys, store: Store, clock: FixedClock) -> None:
    cts = _populate(cipher(keys, store, clock), ["prc_a"])
    target = None if keys.name == "local" else keys.make_second()
    first = rotate_master_key(store, keys.master, ["prc_a"], new_key_id=target)
    again = rotate_master_key(store, keys.master, ["prc_a"], new_key_id=first.target_key_id)
    assert (again.rewrapped, again.already_current) == (0, 3)
    assert keys.master.calls["rewrap"] == 3
    _all_decrypt(keys, store, clock, cts)


class _FailingAfter:
    """The real master key, except that rewrap fails after `n` calls (a crash mid-run)."""

    def __init__(self, real: MasterKey, n: int) -> None:
        self.real, self.left, self.calls = real, n, real.calls

    @property
    def key_id(self) -> str:
        return self.real.key_id

    def generate_data_key(self, context: dict[str, str]) -> tuple[bytes, bytes]:
        return self.real.generate_data_key(context)

    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        return self.real.unwrap(wrapped, context)

    def rewrap(
        self, wrapped: bytes, context: dict[str, str], to_key_id: str | None = None
    ) -> bytes:
        if self.left == 0:
            raise DependencyUnavailable(service="kms", error="ThrottlingException")
        self.left -= 1
        return self.real.rewrap(wrapped, context, to_key_id)

    def wrapped_by(self, wrapped: bytes) -> str:
        return self.real.wrapped_by(wrapped)

    def begin_rotation(self, to_key_id: str | None = None) -> str:
        return self.real.begin_rotation(to_key_id)


def test_rotation_resumes_after_a_crash_half_way(
    keys: Keys, store: Store, clock: FixedClock
) -> None:
    practices = ["prc_a", "prc_b"]
    cts = _populate(cipher(keys, store, clock), practices)
    target = None if keys.name == "local" else keys.make_second()
    # GIVEN a rotation that dies after re-wrapping two of six data keys
    with pytest.raises(DependencyUnavailable):
        rotate_master_key(store, _FailingAfter(keys.master, 2), practices, new_key_id=target)
    _all_decrypt(keys, store, clock, cts)  # half-rotated is fully readable
    # WHEN it is run again onto the same key THEN it finishes the other four
    resumed = rotate_master_key(store, keys.master, practices, new_key_id=keys.master.key_id)
    assert (resumed.rewrapped, resumed.already_current) == (4, 2)
    _all_decrypt(keys, store, clock, cts)


class _ConcurrentRotation:
    """A store where, just before our first rewrite of a data-key row, another rotation
    run rewrites that same row (real rewrap, real conditional put)."""

    def __init__(self, real: Store, master: MasterKey, target: Callable[[], str]) -> None:
        self.real, self.master, self.target, self.calls = real, master, target, real.calls
        self.fired = False

    def practice(self, practice_id: str) -> PracticeStore:
        owner = self
        real = self.real.practice(practice_id)

        class Racing(_StalePractice):
            def get(self, pk: str, sk: str) -> Item | None:
                return real.get(pk, sk)

            def put(self, item: Item, condition: Any = None) -> None:
                if not owner.fired and str(item["sk"]).startswith("DK#"):
                    owner.fired = True
                    stored = real.get(item["pk"], item["sk"])
                    assert stored is not None
                    theirs = owner.master.rewrap(
                        bytes(stored["wrapped"]), _ctx(stored), owner.target()
                    )
                    real.put(
                        {**stored, "wrapped": theirs, "version": stored["version"] + 1},
                        condition,
                    )
                real.put(item, condition)

        return Racing(_StaleFirstPointerRead(self.real), real)

    def close(self) -> None:
        self.real.close()


def test_rotation_never_overwrites_a_concurrent_writer(
    keys: Keys, store: Store, clock: FixedClock
) -> None:
    cts = _populate(cipher(keys, store, clock), ["prc_a"])
    target = None if keys.name == "local" else keys.make_second()
    racing = _ConcurrentRotation(store, keys.master, lambda: keys.master.key_id)
    report = rotate_master_key(racing, keys.master, ["prc_a"], new_key_id=target)
    assert racing.fired
    assert (report.rewrapped, report.already_current, report.retried) == (2, 1, 1)
    for row in data_key_rows(store.practice("prc_a")):
        assert row["version"] == 2  # one write each: the loser re-read, it did not clobber
    _all_decrypt(keys, store, clock, cts)


def test_local_rotation_keeps_old_master_files(tmp_path: Path, clock: FixedClock) -> None:
    master = LocalMasterKey(tmp_path / "keys")
    s = SqliteStore(tmp_path / "tpm.db")
    _populate(FieldCipher(master, s, clock), ["prc_a"])
    old = master.key_id
    report = rotate_master_key(s, master, ["prc_a"])
    assert master.key_id == report.target_key_id != old
    assert set(master.master_key_ids()) == {old, report.target_key_id}
    assert (tmp_path / "keys" / "active").read_text() == report.target_key_id
    assert oct(os.stat(tmp_path / "keys" / "active").st_mode & 0o777) == "0o600"
    s.close()
