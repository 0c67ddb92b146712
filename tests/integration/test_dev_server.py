"""`tpm dev` as a newcomer runs it: a real process, a real port, Ctrl-C, and a restart."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dev_server(data_dir: Path, project_root: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPM_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tpm.cli", "dev", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=project_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Generous: the first start hashes the demo passwords and imports every function,
        # and CI machines are shared.
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                if proc.poll() is None:
                    proc.kill()  # communicate() would otherwise wait for it forever
                raise AssertionError(f"tpm dev did not start:\n{proc.communicate()[0]}")
            time.sleep(0.2)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise


def test_dev_serves_api_and_portal_and_restarts_with_the_same_data(
    tmp_path: Path, project_root: Path
) -> None:
    data_dir = tmp_path / "data"
    # GIVEN a first start on an empty data dir
    with dev_server(data_dir, project_root) as (base, proc):
        health = httpx.get(f"{base}/v1/health")
        assert health.json()["status"] == "ok"
        portal = httpx.get(f"{base}/")
        assert portal.status_code == 200
        assert "<html" in portal.text
        assert "default-src 'self'" in portal.headers["content-security-policy"]
        assert httpx.get(f"{base}/v1/openapi.json").json()["paths"]["/v1/health"]
        wrong = httpx.delete(f"{base}/v1/health")
        assert wrong.status_code == 405
        assert wrong.json()["error"]["code"] == "method_not_allowed"
    # THEN Ctrl-C stopped it cleanly and the data dir holds the database and 0600 keys
    assert proc.returncode == 0
    first_output = proc.stdout.read() if proc.stdout else ""
    assert "created" in first_output
    assert "synthetic" in first_output
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    key_files = [p for p in (data_dir / "keys").rglob("*") if p.is_file()]
    assert key_files
    for key_file in key_files:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, key_file
    assert (data_dir / "tpm.db").is_file()
    keys_before = {p.name: p.read_bytes() for p in key_files}

    # WHEN it starts again on the same data dir THEN it reuses the practice and keys
    with dev_server(data_dir, project_root) as (base, proc2):
        assert httpx.get(f"{base}/v1/health").status_code == 200
    second_output = proc2.stdout.read() if proc2.stdout else ""
    assert "reused" in second_output
    keys_after = {p.name: p.read_bytes() for p in (data_dir / "keys").rglob("*") if p.is_file()}
    assert keys_after == keys_before
