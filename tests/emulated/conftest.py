"""Fixtures of the emulated-AWS tier (tests/emulated/stack.py says what it is, how to use it
and where moto differs from AWS):

- `emulated`: one emulated AWS stack per test module;
- `journey_stack`: the same, then tpm dev's local adapters, for a journey that must pass
  both ways;
- `browser`: Debian's chromium through Playwright (never a downloaded browser), skipped
  where it is missing except in CI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = shutil.which("chromium")
    if path is None:
        reason = "Debian's chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must run the browser tests")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def results_dir() -> Path:
    path = Path(__file__).resolve().parents[2] / "test-results"
    path.mkdir(exist_ok=True)
    return path
