"""Where the audit trail's rows live: keys, row shapes, reading heads (no appending).

All in the practice's "AUDIT" partition (the adapter adds the practice prefix). A practice
has one or more chains ("shards", tpm.security.audit); shard 0 is the chain every practice
had before shards existed, under its original keys, so no row was ever rewritten:

  shard 0                         shard k (1..31)
  EVT#<seq:012d>   an event       EVT<k:02d>#<seq:012d>
  HEAD             its head       HEAD#<k:02d>
  CKP#<n:012d>     a signed checkpoint of all shards (n: the sum of their seqs)

Events: written with Absent, never updated or deleted, no expires_at;
  gsi1 AUDIT#PAT#<patient_id> / <time>#<seq>[#<k>]   (events about a patient)
  gsi2 AUDIT#USR#<user_id>    / <time>#<seq>[#<k>]   (events by a user)
A head is the signed {seq, hash, time} of its shard's newest event; its `version` is the
optimistic-concurrency counter every append to that shard conditions on. Shard 0's head
also holds the number of shards and the link to the last checkpoint.
"""

from __future__ import annotations

from typing import Any

from tpm.adapters.store.base import Item, PracticeStore, iterate
from tpm.errors import IntegrityError
from tpm.security.audit_chain import MAX_SHARDS, ChainedEvent
from tpm.security.audit_checkpoints import ChainHead, Checkpoint

AUDIT_PK = "AUDIT"
HEAD_SK = "HEAD"
EVENT_PREFIX = "EVT#"
CHECKPOINT_PREFIX = "CKP#"
LAYOUT_ATTRS = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "type"})
MAX_SEQ = 10**12 - 1


def event_prefix(shard: int = 0) -> str:
    return EVENT_PREFIX if shard == 0 else f"EVT{shard:02d}#"


def event_sk(seq: int, shard: int = 0) -> str:
    return f"{event_prefix(shard)}{seq:012d}"


def head_sk(shard: int = 0) -> str:
    return HEAD_SK if shard == 0 else f"{HEAD_SK}#{shard:02d}"


def checkpoint_sk(seq: int) -> str:
    return f"{CHECKPOINT_PREFIX}{seq:012d}"


def seq_of(sk: str, prefix: str) -> int | None:
    """The seq in a key `<prefix><12 digits>`, or None when the key is not one."""
    digits = sk.removeprefix(prefix)
    return int(digits) if sk.startswith(prefix) and digits.isdigit() and len(digits) == 12 else None


def shard_of_head(sk: str) -> int | None:
    if sk == HEAD_SK:
        return 0
    digits = sk.removeprefix(f"{HEAD_SK}#")
    if sk.startswith(f"{HEAD_SK}#") and len(digits) == 2 and digits.isdigit():
        shard = int(digits)
        return shard if 0 < shard < MAX_SHARDS else None
    return None


def index_keys(event: ChainedEvent) -> dict[str, str]:
    keys: dict[str, str] = {}
    order = f"{event.time}#{event.seq:012d}" + (f"#{event.shard:02d}" if event.shard else "")
    if event.patient_id:
        keys |= {"gsi1pk": f"AUDIT#PAT#{event.patient_id}", "gsi1sk": order}
    if event.actor_kind == "user":
        keys |= {"gsi2pk": f"AUDIT#USR#{event.actor_id}", "gsi2sk": order}
    return keys


def event_item(event: ChainedEvent) -> Item:
    return {
        "pk": AUDIT_PK,
        "sk": event_sk(event.seq, event.shard),
        "type": "audit_event",
        **index_keys(event),
        **event.stored_fields(),
    }


def event_from_item(item: Item) -> ChainedEvent:
    return ChainedEvent.model_validate(record_fields(item))


def record_fields(item: Item) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in LAYOUT_ATTRS}


def head_item(head: ChainHead) -> Item:
    return {"pk": AUDIT_PK, "sk": head_sk(head.shard), "type": "audit_head", **head.record()}


def checkpoint_item(cp: Checkpoint) -> Item:
    return {"pk": AUDIT_PK, "sk": checkpoint_sk(cp.seq), "type": "audit_checkpoint", **cp.record()}


def parse_head(item: Item) -> ChainHead:
    try:
        return ChainHead.model_validate(record_fields(item))
    except ValueError as exc:
        raise IntegrityError("an audit chain head is unreadable") from exc


def read_head(store: PracticeStore, shard: int = 0) -> ChainHead | None:
    item = store.get(AUDIT_PK, head_sk(shard))
    return None if item is None else parse_head(item)


def read_head_rows(store: PracticeStore) -> dict[int, Item]:
    """Every shard's head row (one query); a row under a malformed head key is an
    IntegrityError (only the trail writes heads)."""
    rows: dict[int, Item] = {}
    for item in iterate(store, AUDIT_PK, sk_prefix=HEAD_SK):
        shard = shard_of_head(item["sk"])
        if shard is None:
            raise IntegrityError("a row with a malformed audit head key")
        rows[shard] = item
    return rows


def read_heads(store: PracticeStore) -> dict[int, ChainHead]:
    """Every shard's head, unchecked (for readers; appends check them first)."""
    return {shard: parse_head(item) for shard, item in read_head_rows(store).items()}


def shard_count(store: PracticeStore) -> int:
    """How many shards the practice has (1 before any were opened, or with no events)."""
    head = read_head(store)
    return head.shards if head is not None else 1


def read_checkpoint(store: PracticeStore, seq: int) -> Checkpoint | None:
    item = store.get(AUDIT_PK, checkpoint_sk(seq))
    return None if item is None else Checkpoint.model_validate(record_fields(item))


def latest_checkpoint(store: PracticeStore) -> Checkpoint | None:
    page = store.query(AUDIT_PK, sk_prefix=CHECKPOINT_PREFIX, limit=1, descending=True)
    return Checkpoint.model_validate(record_fields(page.items[0])) if page.items else None
