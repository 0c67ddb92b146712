"""Abuse limits: fixed-window request quotas kept in the store.

    from tpm.services.rate_limits import enforce

    # at most 30 searches per user per minute
    enforce(ctx.store, ctx.runtime.clock, "patient-search", ctx.principal.user_id, 30, 60)
    # at most 20 booking requests per source address per hour
    enforce(ctx.store, ctx.runtime.clock, "booking-ip", ctx.principal.source_ip, 20, 3600)

Call it after authorisation (so a denied caller gets 403, not 429) and before the work.
Over the limit it raises `tpm.errors.RateLimited(retry_after=seconds)`, which the API maps
to 429 with a `Retry-After` header.

One counter item per (name, subject, window), in the caller's practice partition:
    RATE#<name>#<subject>    W#<window seconds>#<window start epoch>   {count, version}
It is incremented with a conditional write (Absent for the first hit of a window, then
VersionIs(n)); a lost race re-reads and tries again, so concurrent callers at the limit
get exactly `limit` successes. `expires_at` is the window's end: the store treats the row
as absent afterwards and DynamoDB's TTL removes it.
"""

from __future__ import annotations

import math
import re

from tpm.adapters.store.base import (
    Absent,
    Condition,
    ConditionFailed,
    PracticeStore,
    TransactionConflict,
    VersionIs,
)
from tpm.clock import Clock
from tpm.errors import RateLimited

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# Subjects are ids or network addresses, never PHI (they become part of a key).
_SUBJECT = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
MAX_ATTEMPTS = 50


def enforce(
    store: PracticeStore,
    clock: Clock,
    name: str,
    subject: str,
    limit: int,
    window_seconds: int,
) -> int:
    """Counts one use of `name` by `subject` in the current fixed window of
    `window_seconds`; raises RateLimited once `limit` uses are already counted.

    `name` is a short label (lowercase, digits, dashes: "patient-search"); `subject` is who
    or what is limited: a user id, a patient id, or a source IP (`ctx.principal.source_ip`;
    an unknown address counts as "unknown"). Returns how many uses remain in the window.
    """
    if not _NAME.match(name):
        raise ValueError("a rate-limit name is lowercase letters, digits and dashes")
    if limit < 1 or window_seconds < 1:
        raise ValueError("limit and window must be positive")
    subject = subject or "unknown"
    if not _SUBJECT.match(subject):
        raise ValueError("a rate-limit subject is an id or an address")
    now = clock.now().timestamp()
    start = int(now // window_seconds) * window_seconds
    end = start + window_seconds
    pk, sk = f"RATE#{name}#{subject}", f"W#{window_seconds}#{start}"
    for _ in range(MAX_ATTEMPTS):
        item = store.get(pk, sk)
        count = 0 if item is None else int(item["count"])
        if count >= limit:
            raise RateLimited(retry_after=max(1, math.ceil(end - now)))
        version = 0 if item is None else int(item["version"])
        condition: Condition = Absent() if item is None else VersionIs(version)
        try:
            store.put(
                {
                    "pk": pk,
                    "sk": sk,
                    "count": count + 1,
                    "version": version + 1,
                    "expires_at": end,
                },
                condition,
            )
        except (ConditionFailed, TransactionConflict):
            continue  # another request counted first: look again
        return limit - count - 1
    # Under a storm of contention, refuse rather than let requests through uncounted.
    raise RateLimited(retry_after=1)
