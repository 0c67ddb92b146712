"""Fixtures of the emulated-AWS tier (tests/emulated/stack.py says what it is, how to use it
and where moto differs from AWS):

- `emulated`: one emulated AWS stack per test module;
- `journey_stack`: the same, then tpm dev's local adapters, for a journey that must pass
  both ways;
- `in_browser`: steps run in Debian's chromium through Playwright (never a downloaded
  browser), skipped where it is missing except in CI.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from emulated.stack import EmulatedStack, start_emulated_stack


@pytest.fixture(scope="module")
def emulated() -> Iterator[EmulatedStack]:
    yield from start_emulated_stack()


@pytest.fixture(scope="module", params=["aws", "local"])
def journey_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmulatedStack]:
    data_dir = tmp_path_factory.mktemp("journey") / "data"
    yield from start_emulated_stack(request.param, data_dir)


BrowserRun = Callable[..., None]  # run(steps, extra_args=()): steps(page) in Chromium


@pytest.fixture(scope="module")
def in_browser() -> BrowserRun:
    """Runs `steps(page)` in a fresh Chromium page. Playwright's sync API runs on a thread
    of its own: another suite's Playwright may already be live on this worker's main
    thread, and two cannot share one thread."""
    path = shutil.which("chromium")
    if path is None:
        reason = "Debian's chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must run the browser tests")
        pytest.skip(reason)

    def run(steps: Callable[[Page], None], extra_args: tuple[str, ...] = ()) -> None:
        failure: list[BaseException] = []

        def target() -> None:
            try:
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(
                        executable_path=path,
                        args=["--no-sandbox", "--disable-gpu", "--no-first-run", *extra_args],
                    )
                    try:
                        steps(browser.new_page())
                    finally:
                        browser.close()
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(timeout=240)
        assert not thread.is_alive(), "the browser steps did not finish"
        if failure:
            raise failure[0]

    return run


@pytest.fixture
def results_dir() -> Path:
    path = Path(__file__).resolve().parents[2] / "test-results"
    path.mkdir(exist_ok=True)
    return path
