"""Fixed-window abuse limits on both store adapters: counting, roll-over, isolation, and
exactly `limit` successes under concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tpm.adapters.store.base import Store
from tpm.adapters.store.sqlite import SqliteStore
from tpm.clock import FixedClock
from tpm.errors import RateLimited
from tpm.services.rate_limits import enforce

pytestmark = pytest.mark.contract


def test_the_limit_holds_within_a_window_and_resets_in_the_next(
    store: Store, clock: FixedClock
) -> None:
    practice = store.practice("prc_rate")
    # GIVEN three allowed uses per minute, 10 s into a window
    clock.advance(seconds=10)
    remaining = [enforce(practice, clock, "search", "usr_1", 3, 60) for _ in range(3)]
    assert remaining == [2, 1, 0]
    # WHEN a fourth comes in the same window THEN it is refused with the time left
    with pytest.raises(RateLimited) as refused:
        enforce(practice, clock, "search", "usr_1", 3, 60)
    assert refused.value.details == {"retry_after": 50}
    # AND a refusal does not count: still refused, never further behind
    clock.advance(seconds=49)
    with pytest.raises(RateLimited) as again:
        enforce(practice, clock, "search", "usr_1", 3, 60)
    assert again.value.details == {"retry_after": 1}
    # WHEN the window rolls over THEN the count starts again
    clock.advance(seconds=1)
    assert enforce(practice, clock, "search", "usr_1", 3, 60) == 2


def test_subjects_names_and_practices_are_counted_apart(store: Store, clock: FixedClock) -> None:
    a, b = store.practice("prc_a"), store.practice("prc_b")
    enforce(a, clock, "search", "usr_1", 1, 60)
    with pytest.raises(RateLimited):
        enforce(a, clock, "search", "usr_1", 1, 60)
    enforce(a, clock, "search", "usr_2", 1, 60)
    enforce(a, clock, "invite", "usr_1", 1, 60)
    enforce(b, clock, "search", "usr_1", 1, 60)
    enforce(a, clock, "search-ip", "2001:db8::1", 1, 60)
    enforce(a, clock, "search-ip", "", 1, 60)  # an unknown address is one subject


def test_counter_rows_expire_with_their_window(store: Store, clock: FixedClock) -> None:
    practice = store.practice("prc_rate")
    enforce(practice, clock, "search", "usr_1", 5, 60)
    rows = practice.query("RATE#search#usr_1", limit=10).items
    assert len(rows) == 1
    assert rows[0]["expires_at"] == int(clock.now().timestamp()) // 60 * 60 + 60
    clock.advance(seconds=60)
    assert practice.query("RATE#search#usr_1", limit=10).items == []


@pytest.mark.parametrize(
    ("name", "subject", "limit", "window"),
    [
        ("Search", "usr_1", 1, 60),
        ("search", "jane doe@example.test", 1, 60),
        ("search", "usr_1", 0, 60),
        ("search", "usr_1", 1, 0),
    ],
)
def test_misuse_is_refused(
    store: Store, clock: FixedClock, name: str, subject: str, limit: int, window: int
) -> None:
    with pytest.raises(ValueError, match=r"rate-limit|positive"):
        enforce(store.practice("prc_rate"), clock, name, subject, limit, window)


def test_concurrent_callers_at_the_limit_get_exactly_limit_successes(
    tmp_path: Path, clock: FixedClock
) -> None:
    # Real threads on one SQLite file, each with its own connection (as `tpm dev` runs).
    store = SqliteStore(tmp_path / "race.db", clock=clock)
    practice = store.practice("prc_race")
    limit, callers = 5, 16
    barrier = threading.Barrier(callers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait()
        try:
            enforce(practice, clock, "booking", "usr_1", limit, 3600)
            result = "ok"
        except RateLimited:
            result = "limited"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    assert outcomes.count("ok") == limit
    assert outcomes.count("limited") == callers - limit
