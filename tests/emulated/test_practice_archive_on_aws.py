"""A practice leaves AWS for `tpm dev`: `tpm practice export` runs against the emulated
stack exactly as docs/deploy.md has an operator run it (TPM_ENV=aws and the stack's own
settings), and `tpm practice import` restores the archive into a local data dir, where
`tpm audit verify` finds the chain intact and the records open under local keys."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulated.stack import EmulatedStack
from tpm.cli import main
from tpm.config import get_settings
from tpm.local.bootstrap import local_settings
from tpm.repositories.patients import PatientRepository
from tpm.runtime import build_runtime
from tpm.services.practices import practice_id_for_slug

SLUG = "leaving"
PASSPHRASE = "lighthouse-saffron-orbit-36"


def ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def run(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue() + err.getvalue()


def test_a_practice_moves_from_aws_to_tpm_dev(
    emulated: EmulatedStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a practice on the emulated stack with a patient entered through the API
    owner = emulated.owner(SLUG)
    desk = emulated.staff(owner, SLUG, "front_desk", "frankie@leaving.example")
    vendor = {
        "key": "aws",
        "name": "Amazon Web Services",
        "role": "hosting",
        "receives_phi": True,
        "agreement": {"status": "executed", "executed_on": "2026-01-05"},
    }
    ok(owner.post("/v1/vendors", json=vendor))
    patient = {"legal_first_name": "Robin", "legal_last_name": "Leaving", "date_of_birth": "1985-05-05"}  # fmt: skip
    created = ok(desk.post("/v1/patients", json=patient))
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE)
    archive = tmp_path / "leaving.tpmx"
    # WHEN the operator exports it from AWS (TPM_ENV=aws: the stack's table, KMS, buckets)
    assert get_settings().environment == "aws"
    code, out = run("practice", "export", "--practice", SLUG, "--out", str(archive), "--passphrase-file", str(secret))  # fmt: skip
    assert code == 0, out
    assert "audit chain verifies" in out
    # AND imports it into a fresh local data dir
    monkeypatch.setenv("TPM_ENV", "local")
    get_settings.cache_clear()
    local = tmp_path / "dev"
    code, out = run("practice", "import", str(archive), "--data-dir", str(local), "--passphrase-file", str(secret))  # fmt: skip
    assert code == 0, out
    # THEN the chain, signed by the stack's KMS-wrapped key, verifies on the local one
    code, out = run("audit", "verify", "--data-dir", str(local), "--practice", SLUG)
    assert code == 0, out
    assert "intact" in out
    # AND the patient's record opens under the local master key
    runtime = build_runtime(local_settings(local))
    try:
        practice_id = practice_id_for_slug(runtime.store, SLUG)
        assert practice_id is not None
        patients, _ = PatientRepository(runtime.store.practice(practice_id), runtime.cipher).page(
            100, None
        )
        assert [(p.id, p.legal_first_name) for p in patients] == [(created["id"], "Robin")]
    finally:
        runtime.store.close()
