"""Reading the audit trail: one patient's or user's events (indexes), a time range, and
every event in order across the practice's shards.

Within a shard, event times never go backwards (time = max(now, head time)), so a time
range is a contiguous seq range, found by binary search. Across shards, events are ordered
by (time, shard, seq): a merge of the shards' ranges.
"""

from __future__ import annotations

import base64
import heapq
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tpm.adapters.store.base import MAX_PAGE, IndexName, InvalidCursor, PracticeStore, iterate
from tpm.clock import to_rfc3339
from tpm.errors import IntegrityError, ValidationFailed
from tpm.security.audit_chain import ChainedEvent
from tpm.security.audit_layout import (
    AUDIT_PK,
    event_from_item,
    event_sk,
    read_head,
    record_fields,
    shard_count,
)

_MERGED = "m1."  # prefix of the cursor of a listing merged across shards


@dataclass(frozen=True)
class EventPage:
    events: list[ChainedEvent]
    next_cursor: str | None = None


def query_events(
    store: PracticeStore,
    *,
    patient_id: str | None = None,
    user_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 25,
    cursor: str | None = None,
    newest_first: bool = False,
) -> EventPage:
    """Events about one patient, by one user, or all; optionally in [start, end)."""
    if patient_id is not None and user_id is not None:
        raise ValidationFailed(
            fields=[
                {"path": "query.patient_id", "type": "choose_one_filter"},
                {"path": "query.user_id", "type": "choose_one_filter"},
            ]
        )
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(fields=[{"path": "query.limit", "type": "less_than_equal"}])
    for name, value in (("patient_id", patient_id), ("user_id", user_id)):
        if value is not None and not _is_key_safe(value):
            raise ValidationFailed(fields=[{"path": f"query.{name}", "type": "invalid_id"}])
    paging: dict[str, Any] = {"limit": limit, "cursor": cursor, "descending": newest_first}
    if patient_id is not None or user_id is not None:
        if start is not None or end is not None:
            # index sort keys are "<time>#<seq>[#<shard>]": "0" sorts before every time,
            # "~" after all of them, and a bare `end` time sorts before "<end>#…", so end
            # is excluded
            lo = to_rfc3339(start) if start else "0"
            hi = to_rfc3339(end) if end else "~"
            if lo >= hi:
                return EventPage([])
            paging["sk_between"] = (lo, hi)
        index: IndexName = "gsi1" if patient_id else "gsi2"
        pk = f"AUDIT#PAT#{patient_id}" if patient_id else f"AUDIT#USR#{user_id}"
        page = store.query(pk, index=index, **paging)
    else:
        shards = shard_count(store)
        if shards > 1 or (cursor or "").startswith(_MERGED):
            return _merged_page(store, shards, start, end, limit, cursor, newest_first)
        seqs = seq_range(store, start, end)
        if seqs is None:
            return EventPage([])
        page = store.query(AUDIT_PK, sk_between=(event_sk(seqs[0]), event_sk(seqs[1])), **paging)
    try:
        return EventPage([event_from_item(i) for i in page.items], page.next_cursor)
    except ValueError as exc:
        raise IntegrityError("an audit event is unreadable") from exc


def _merged_page(
    store: PracticeStore,
    shards: int,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    cursor: str | None,
    newest_first: bool,
) -> EventPage:
    """One page of every shard's events in [start, end), by (time, shard, seq). The
    cursor holds, per shard, the next seq not yet listed (going down when newest first)."""
    ranges = {k: r for k in range(shards) if (r := seq_range(store, start, end, k)) is not None}
    positions = _decode(cursor, shards) if cursor else None
    remaining: dict[int, tuple[int, int]] = {}
    for k, (first, last) in ranges.items():
        if positions is not None and k not in positions:
            continue  # listed to its end on an earlier page
        at = positions or {}
        if newest_first:
            lo, hi = first, min(last, at.get(k, last))
        else:
            lo, hi = max(first, at.get(k, first)), last
        if lo <= hi:
            remaining[k] = (lo, hi)
    fetched: list[ChainedEvent] = []
    for k, (lo, hi) in remaining.items():
        page = store.query(
            AUDIT_PK,
            sk_between=(event_sk(lo, k), event_sk(hi, k)),
            limit=limit,
            descending=newest_first,
        )
        try:
            fetched += [event_from_item(i) for i in page.items]
        except ValueError as exc:
            raise IntegrityError("an audit event is unreadable") from exc
    fetched.sort(key=_order, reverse=newest_first)
    taken = fetched[:limit]
    for event in taken:
        lo, hi = remaining[event.shard]
        remaining[event.shard] = (lo, event.seq - 1) if newest_first else (event.seq + 1, hi)
    left = {k: (hi if newest_first else lo) for k, (lo, hi) in remaining.items() if lo <= hi}
    return EventPage(taken, _encode(left) if left else None)


def _order(event: ChainedEvent) -> tuple[str, int, int]:
    return (event.time, event.shard, event.seq)


def _encode(positions: dict[int, int]) -> str:
    raw = json.dumps({str(k): v for k, v in positions.items()}, separators=(",", ":"))
    return _MERGED + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, shards: int) -> dict[int, int]:
    """The next seq of each shard still to list (a shard not in it is finished)."""
    if not cursor.startswith(_MERGED):
        raise InvalidCursor()
    body = cursor.removeprefix(_MERGED)
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(data, dict):
        raise InvalidCursor()
    positions: dict[int, int] = {}
    for key, value in data.items():
        if not (key.isdigit() and int(key) < shards and type(value) is int and value >= 0):
            raise InvalidCursor()
        positions[int(key)] = value
    return positions


def seq_range(
    store: PracticeStore, start: datetime | None, end: datetime | None, shard: int = 0
) -> tuple[int, int] | None:
    """The seqs of one shard's first and last events in [start, end), or None if none."""
    head = read_head(store, shard)
    if head is None or head.seq == 0:
        return None
    first = _first_seq_at(store, to_rfc3339(start), head.seq, shard) if start else 1
    last = _first_seq_at(store, to_rfc3339(end), head.seq, shard) - 1 if end else head.seq
    return (first, last) if first <= last else None


def _first_seq_at(store: PracticeStore, moment: str, head_seq: int, shard: int) -> int:
    """Binary search for the first seq whose time is >= moment (head_seq + 1 if none)."""
    lo, hi = 1, head_seq + 1
    while lo < hi:
        mid = (lo + hi) // 2
        item = store.get(AUDIT_PK, event_sk(mid, shard))
        if item is None or not isinstance(item.get("time"), str):
            raise IntegrityError("the audit chain has a gap; run verify")
        if item["time"] < moment:
            lo = mid + 1
        else:
            hi = mid
    return lo


def read_events(
    store: PracticeStore, first_seq: int, last_seq: int, shard: int = 0
) -> Iterator[ChainedEvent]:
    """Every stored event of a shard with first_seq <= seq <= last_seq, in order."""
    for fields in read_event_rows(store, first_seq, last_seq, shard):
        yield ChainedEvent.model_validate(fields)


def read_event_rows(
    store: PracticeStore, first_seq: int, last_seq: int, shard: int = 0
) -> Iterator[dict[str, Any]]:
    """The same events as stored (no index keys): the exact fields their hashes cover."""
    span = (event_sk(first_seq, shard), event_sk(last_seq, shard))
    for item in iterate(store, AUDIT_PK, sk_between=span):
        yield record_fields(item)


def events_between(
    store: PracticeStore, start: datetime | None, end: datetime | None
) -> Iterator[ChainedEvent]:
    """Every event in [start, end) of every shard, by (time, shard, seq)."""
    streams = []
    for shard in range(shard_count(store)):
        seqs = seq_range(store, start, end, shard)
        if seqs is not None:
            streams.append(read_events(store, *seqs, shard=shard))
    yield from heapq.merge(*streams, key=_order)


def _is_key_safe(value: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9_.:@-]{1,128}", value) is not None
