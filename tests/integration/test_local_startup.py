"""`tpm dev`'s startup checks (tpm.local.startup): keys that do not open the data, a data
directory whose keys are gone, and a damaged database each stop it with a clear message
(exit 2) before anything is served or created; uvicorn never trusts proxy headers."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from tpm.clock import SystemClock
from tpm.config import get_settings
from tpm.local import dev
from tpm.local.bootstrap import DemoInfo, local_settings
from tpm.local.startup import StartupRefused, check_data_dir, check_keys
from tpm.runtime import Runtime, build_runtime, set_runtime
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import SystemActor
from tpm.services.practices import create_practice


def started(data_dir: Path) -> Runtime:
    """A data directory as a first `tpm dev` start leaves it: keys, sentinel, an audit trail."""
    check_data_dir(data_dir, new_keys=False)
    runtime = build_runtime(local_settings(data_dir, environment="test"))
    check_keys(runtime)
    practice = create_practice(
        runtime.store, SystemClock(), name="Startup", slug="startup", timezone="UTC"
    )
    runtime.audit.record(
        runtime.store.practice(practice.id),
        AuditEvent.for_system(SystemActor("t", practice.id), action="t.e", resource_kind="t"),
    )
    return runtime


def master_key(data_dir: Path) -> Path:
    active = (data_dir / "keys" / "active").read_text().strip()
    return data_dir / "keys" / f"master-{active}.key"


def test_a_restart_with_the_same_keys_passes(tmp_path: Path) -> None:
    started(tmp_path).store.close()
    check_data_dir(tmp_path, new_keys=False)
    again = build_runtime(local_settings(tmp_path, environment="test"))
    check_keys(again)
    again.store.close()


def test_a_replaced_or_exposed_master_key_stops_the_start(tmp_path: Path) -> None:
    started(tmp_path).store.close()
    key = master_key(tmp_path)
    original = key.read_bytes()
    # GIVEN the key file readable by everyone THEN the start is refused, naming the fix
    key.chmod(0o644)
    runtime = build_runtime(local_settings(tmp_path, environment="test"))
    with pytest.raises(StartupRefused, match="0600"):
        check_keys(runtime)
    runtime.store.close()
    key.chmod(0o600)
    # GIVEN a different key under the same name THEN the sentinel does not open
    key.write_bytes(secrets.token_bytes(len(original)))
    runtime = build_runtime(local_settings(tmp_path, environment="test"))
    with pytest.raises(StartupRefused, match="do not open"):
        check_keys(runtime)
    runtime.store.close()


def test_data_without_its_keys_is_refused_unless_new_keys_are_asked_for(tmp_path: Path) -> None:
    started(tmp_path).store.close()
    for sub in ("keys", "audit/signing"):
        target = tmp_path / sub
        target.rename(tmp_path / f"{sub.replace('/', '-')}.moved")
        with pytest.raises(StartupRefused, match="--new-keys"):
            check_data_dir(tmp_path, new_keys=False)
        (tmp_path / f"{sub.replace('/', '-')}.moved").rename(target)
    (tmp_path / "keys").rename(tmp_path / "keys.moved")
    # AND nothing was created meanwhile
    assert not (tmp_path / "keys").exists()
    check_data_dir(tmp_path, new_keys=True)


def test_a_damaged_database_is_named_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started(tmp_path).store.close()
    (tmp_path / "tpm.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StartupRefused, match="damaged or is not a tpm database"):
        check_data_dir(tmp_path, new_keys=False)
    # AND `tpm dev` exits 2 with that message, serving nothing
    monkeypatch.setattr(dev.uvicorn, "run", _never)
    code = dev.run_dev(host="127.0.0.1", port=0, data_dir=tmp_path, root=Path.cwd())
    assert code == 2
    assert "damaged" in capsys.readouterr().err


def _never(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the server must not start")


def test_uvicorn_runs_without_proxy_headers(
    tmp_path: Path, project_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(dev.uvicorn, "run", fake_run)
    monkeypatch.setattr(dev.LocalScheduler, "start", lambda self: None)
    # The demo's working data takes a minute to make and is not what this is about.
    monkeypatch.setattr(dev, "ensure_demo_practice", lambda runtime: DemoInfo("prx_x", True))
    for name in [n for n in os.environ if n.startswith(("TPM_", "POWERTOOLS_"))] + [
        "TPM_STORE", "TPM_KEYS", "TPM_IDENTITY", "TPM_AUDIT", "TPM_FILES", "TPM_DATA_DIR",
        "TPM_ENV", "TPM_PORTAL_URL", "TPM_NOTIFY", "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
    ]:  # fmt: skip
        monkeypatch.delenv(name, raising=False)  # restored as they were afterwards
    try:
        assert dev.run_dev(host="127.0.0.1", port=0, data_dir=tmp_path, root=project_root) == 0
    finally:
        set_runtime(None)
        get_settings.cache_clear()
    assert seen["proxy_headers"] is False
