"""Browser tests: `tpm dev` as a real process, driven by Playwright with Debian's chromium.

Never `playwright install` (it downloads a browser): the tests launch the system chromium
by path. Without it they skip, except in CI (CI=true), where a missing browser fails.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    expect,
    sync_playwright,
)
from portal_api import (
    Catalogue,
    invite_new_patient,
    screenshot,
    set_up_catalogue,
    staff,
    use_no_quiet_hours,
)

from tpm.security.principal import Role

# The first request to each function of a fresh `tpm dev` imports it, and the suite shares
# a small machine with CPU-heavy tests: explicit waits get room (they end as soon as met).
expect.set_options(timeout=20_000)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        reason = "Debian's chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must run the browser tests")
        pytest.skip(reason)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class DevServer:
    base: str
    data_dir: Path


@contextmanager
def start_dev_server(home: Path, project_root: Path) -> Iterator[DevServer]:
    """A `tpm dev` on a free port with its own data dir under `home`."""
    port = _free_port()
    data_dir = home / "data"
    # The server's output goes to a file: an undrained pipe fills up and blocks the server.
    log_path = home / "tpm-dev.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPM_")}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tpm.cli",
                "dev",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                # Every browser sign-in comes from 127.0.0.1; the suite makes more than the
                # default 50 per 5 minutes (the limit itself is tested in integration).
                "--sign-in-attempts-per-address",
                "1000",
            ],
            cwd=project_root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # first start seeds the demo practice; a busy machine
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise AssertionError(f"tpm dev did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield DevServer(base, data_dir)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def dev_server(
    chromium_path: str, tmp_path_factory: pytest.TempPathFactory, project_root: Path
) -> Iterator[DevServer]:
    """One `tpm dev` per test worker, on a free port with its own data dir."""
    with start_dev_server(tmp_path_factory.mktemp("portal"), project_root) as server:
        yield server


@pytest.fixture(scope="session")
def portal_url(dev_server: DevServer) -> str:
    return dev_server.base


@pytest.fixture(scope="session")
def catalogue(portal_url: str) -> Catalogue:
    """The demo practice set up once per server by its admin (MFA enrolled on the way):
    catalogue, online booking, and no quiet hours (a night-time run would hold messages)."""
    admin = staff(portal_url, Role.ADMIN)
    use_no_quiet_hours(admin)
    return set_up_catalogue(admin)


@dataclass(frozen=True)
class PortalPatient:
    patient_id: str
    email: str
    password: str


# The API allows each user 60 portal invitations an hour; one test process's server sees
# more new patients than that, so the invitations take turns among the roles that may send
# them (front desk, admin, owner).
_INVITERS = itertools.cycle((Role.FRONT_DESK, Role.ADMIN, Role.OWNER))


@pytest.fixture
def new_patient(portal_url: str) -> PortalPatient:
    """A patient of their own (added by front desk, invitation accepted), so a test can
    change things without disturbing the demo patient."""
    tag = uuid.uuid4().hex[:10]
    email = f"portal-{tag}@example.test"
    password = f"lilac-canyon-{uuid.uuid4().hex[:12]}"
    front_desk = staff(portal_url, Role.FRONT_DESK)
    inviter = staff(portal_url, next(_INVITERS))
    patient_id = invite_new_patient(front_desk, "Robin", email, password, inviter)
    return PortalPatient(patient_id, email, password)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright, chromium_path: str) -> Iterator[Browser]:
    browser = playwright_driver.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class PageProblems:
    """Console errors the page must never produce: CSP violations, uncaught exceptions."""

    def __init__(self) -> None:
        self.csp: list[str] = []
        self.uncaught: list[str] = []

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.csp.append(message.text)

    def on_error(self, error: Exception) -> None:
        self.uncaught.append(str(error))


@pytest.fixture
def page(browser: Browser, portal_url: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(
        base_url=portal_url, viewport={"width": 1100, "height": 900}, locale="en-US"
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    problems = PageProblems()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_error)
    yield page
    screenshot(page, f"last-{request.node.name}")  # what the page showed at the end
    context.close()
    assert problems.csp == [], "Content Security Policy violations"
    assert problems.uncaught == [], "uncaught page errors"


# The video-visit tests' fixtures: Chromium with fake media devices, pages, a telehealth
# location, appointments on now (tests/e2e/visit_ui.py).
from visit_ui import (  # noqa: E402, F401
    book_video,
    clinician,
    desk,
    media_browser,
    pages,
    video_location,
)
