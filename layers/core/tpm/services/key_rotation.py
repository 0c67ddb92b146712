"""Master-key rotation: re-wrap every stored data key under a new master key.

Field ciphertexts are not touched: they name a data key, and a data key's bytes do not
change, only the master key wrapping it. So rotation is cheap (one KMS ReEncrypt per data
key, not per field), and every old ciphertext still decrypts afterwards.

Safe to re-run after a crash half way: rows already wrapped by the target are skipped,
and each write is conditioned on the version it read, so a concurrent writer (another
rotation, a cold start making a new data key) is never overwritten. Pass the
`target_key_id` of the interrupted run's report to resume onto the same key (a local
re-run without it makes yet another new master, which is also correct, just more work).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tpm.adapters.keys.base import MasterKey
from tpm.adapters.store.base import ConditionFailed, Item, PracticeStore, Store, VersionIs
from tpm.errors import Conflict
from tpm.security.envelope import KEYRING_PK, data_key_context, data_key_rows

_MAX_ATTEMPTS = 5


@dataclass
class RotationReport:
    target_key_id: str
    practices: int = 0
    rewrapped: int = 0
    already_current: int = 0
    retried: int = 0
    by_practice: dict[str, int] = field(default_factory=dict)
    """Data keys re-wrapped per practice id (ids only; no PHI)."""


class RotationConflict(Conflict):
    """A row kept changing under us; re-run the rotation (it resumes)."""

    code = "rotation_conflict"
    message = "A data key kept changing during rotation; run the rotation again."


def rotate_master_key(
    store: Store,
    master: MasterKey,
    practice_ids: Iterable[str],
    new_key_id: str | None = None,
) -> RotationReport:
    """Make `new_key_id` (local: a fresh master file when None; KMS: the CMK or alias
    given, or where the configured alias now points) active, then re-wrap every data key
    of each practice under it."""
    target = master.begin_rotation(new_key_id)
    report = RotationReport(target_key_id=target)
    for practice_id in practice_ids:
        practice = store.practice(practice_id)
        report.practices += 1
        report.by_practice[practice_id] = 0
        for row in list(data_key_rows(practice)):
            _rewrap_row(practice, master, target, row, report)
    return report


def _rewrap_row(
    practice: PracticeStore, master: MasterKey, target: str, row: Item, report: RotationReport
) -> None:
    for attempt in range(_MAX_ATTEMPTS):
        if attempt:
            report.retried += 1
            fresh = practice.get(KEYRING_PK, str(row["sk"]))
            if fresh is None:  # data keys are never deleted; treat as gone, nothing to do
                return
            row = fresh
        wrapped = bytes(row["wrapped"])
        if master.wrapped_by(wrapped) == target:
            report.already_current += 1
            return
        context = data_key_context(practice.practice_id, str(row["kind"]), str(row["dk_id"]))
        rewrapped = master.rewrap(wrapped, context, to_key_id=target)
        version = int(row["version"])
        updated = {
            **row,
            "wrapped": rewrapped,
            "master_key_id": master.wrapped_by(rewrapped),
            "version": version + 1,
        }
        try:
            practice.put(updated, VersionIs(version))
        except ConditionFailed:
            continue
        report.rewrapped += 1
        report.by_practice[practice.practice_id] += 1
        return
    raise RotationConflict()
