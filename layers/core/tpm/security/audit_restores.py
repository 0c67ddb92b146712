""" "Restore acknowledged" records: an operator's signed, write-once statement that the
practice's table was restored to an earlier point in time, so the audit chains (every
shard) lost their newest events legitimately.

After a point-in-time restore the table's chain ends at an older, validly signed head,
while the write-once sink still holds checkpoints sealed past it: exactly what truncation
by an attacker looks like, and verification must say so — unless an operator has recorded
why. The record says who, when, the restore point, the last heads known before the
restore (`before`: every shard's mark in the newest checkpoint sealed past the restored
heads) and the heads after it (`after`: every shard's signed head in the restored table).
It is signed with the audit signing key (a `type` tag keeps its signature from being
replayed as a head's or a checkpoint's) and written once where the database cannot reach,
as published keys are: a file created exclusively beside the sealed checkpoints locally
(`audit/checkpoints/restores/<practice>/`), a write-once Object-Lock object in AWS
(`<prefix>/restores/<practice>/`).

Verification (tpm.security.audit_verify) then sets aside the sealed checkpoints of the
lost span — sealed before the acknowledgement, past a restored head in some shard, and no
further than `before` — and reports that span explicitly, never as a silent "intact".
Checkpoint seqs count every shard's events (their sum), so the span is given in those
numbers. Everything else is checked as before; an acknowledgement that is unsigned, for
another practice, or whose `after` is not each chain's own hash there explains nothing and
is itself a problem.
"""

from __future__ import annotations

import base64
import os
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidSignature
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tpm.errors import IntegrityError
from tpm.security.audit_chain import canonical_bytes
from tpm.security.audit_checkpoints import ShardMark

if TYPE_CHECKING:
    from tpm.security.audit_checkpoints import Checkpoint, CheckpointSigner, PublicKeys

_HASH = r"^[0-9a-f]{64}$"
OPERATOR = r"^[A-Za-z0-9_.@:-]{1,64}$"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


class RestoreAcknowledgement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    practice_id: str
    acknowledged_by: str = Field(pattern=OPERATOR)  # an operator's name, never free text
    acknowledged_at: str  # RFC 3339, when the record was made
    restore_point: str  # RFC 3339, the time the table was restored to
    before: tuple[ShardMark, ...] = Field(min_length=1)  # last heads known before it
    after: tuple[ShardMark, ...] = Field(min_length=1)  # the restored table's heads
    key_id: str
    signature: str

    @model_validator(mode="after")
    def _span(self) -> RestoreAcknowledgement:
        for marks in (self.before, self.after):
            if [m.shard for m in marks] != list(range(len(marks))):
                raise ValueError("one mark per shard, in shard order")
        if self.before_total <= self.after_total:
            raise ValueError("the heads before the restore must be past the heads after it")
        return self

    @property
    def before_total(self) -> int:
        return sum(m.seq for m in self.before)

    @property
    def after_total(self) -> int:
        """Where the restored chains stand, in checkpoint numbering (the sum of seqs)."""
        return sum(m.seq for m in self.after)

    def covers(self, cp: Checkpoint) -> bool:
        """Whether a sealed checkpoint belongs to the lost span: past a restored head in
        some shard, and no further than the last heads known before the restore."""
        after = {m.shard: m.seq for m in self.after}
        beyond = any(seq > after.get(k, 0) for k, (seq, _) in cp.marks().items())
        return beyond and cp.seq <= self.before_total

    def signed_fields(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"signature"}) | {
            "type": "tpm.audit.restore_acknowledged"
        }

    @property
    def name(self) -> str:
        """The record's file/object name: the lost span, then when (unique per ack)."""
        stamp = re.sub(r"[^0-9A-Za-z]", "", self.acknowledged_at)
        return f"{self.after_total:012d}-{self.before_total:012d}-{stamp}.json"


def sign_acknowledgement(signer: CheckpointSigner, **fields: Any) -> RestoreAcknowledgement:
    unsigned = RestoreAcknowledgement(**fields, key_id=signer.key_id, signature="")
    raw = signer.sign(canonical_bytes(unsigned.signed_fields()))
    return unsigned.model_copy(update={"signature": base64.b64encode(raw).decode("ascii")})


def acknowledgement_ok(ack: RestoreAcknowledgement, keys: PublicKeys) -> bool:
    key = keys.get(ack.key_id)
    if key is None:
        return False
    try:
        key.verify(
            base64.b64decode(ack.signature, validate=True), canonical_bytes(ack.signed_fields())
        )
    except (InvalidSignature, ValueError):
        return False
    return True


class RestoreLedger(Protocol):
    """Where acknowledgements are written once and read back (never the table)."""

    def acknowledge_restore(self, ack: RestoreAcknowledgement) -> None: ...

    def restore_acknowledgements(self, practice_id: str) -> list[RestoreAcknowledgement]: ...


class LocalRestoreLedger:
    """One file per acknowledgement under `<directory>/<practice>/`, created exclusively
    (O_EXCL, 0600): an existing record is never replaced."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def acknowledge_restore(self, ack: RestoreAcknowledgement) -> None:
        folder = self._folder(ack.practice_id)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(folder / ack.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise IntegrityError("this restore acknowledgement is already recorded") from None
        with os.fdopen(fd, "wb") as f:
            f.write(ack.model_dump_json().encode())
            f.flush()
            os.fsync(f.fileno())

    def restore_acknowledgements(self, practice_id: str) -> list[RestoreAcknowledgement]:
        folder = self._folder(practice_id)
        if not folder.is_dir():
            return []
        return [
            RestoreAcknowledgement.model_validate_json(p.read_bytes())
            for p in sorted(folder.glob("*.json"))
        ]

    def _folder(self, practice_id: str) -> Path:
        if not _SAFE_NAME.match(practice_id):
            raise ValueError("practice id is not usable as a file name")
        return self.directory / practice_id


def lost_to_acknowledged_restore(
    sink: object, practice_id: str, keys: PublicKeys, cp: Checkpoint
) -> bool:
    """Whether a sealed checkpoint belongs to a span lost to an acknowledged restore
    (validly signed, this practice's, covering it, made after it was sealed)."""
    stamp = _at(cp.time)
    return any(
        ack.practice_id == practice_id
        and ack.covers(cp)
        and stamp <= _at(ack.acknowledged_at)
        and acknowledgement_ok(ack, keys)
        for ack in read_acknowledgements(sink, practice_id)
    )


def _at(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def read_acknowledgements(sink: object, practice_id: str) -> list[RestoreAcknowledgement]:
    """The acknowledgements beside a checkpoint sink (both sinks keep a ledger); none for a
    sink without one."""
    ledger = getattr(sink, "restores", None)
    if ledger is None:
        return []
    found: list[RestoreAcknowledgement] = ledger.restore_acknowledgements(practice_id)
    return found
