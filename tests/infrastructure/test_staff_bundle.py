"""Third-party browser code is committed, built by esbuild from web/ at the exact versions
in web/package-lock.json: the staff app's (portal/staff/vendor/) and amazon-chime-sdk-js
for the Chime media frame (portal/visit-media/vendor/). This rebuilds it from a
clean install and fails when the committed files differ from what their sources make.

Needs Node.js and npm (the npm registry). Without them the test skips, except in CI
(CI=true), where it must run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
PORTAL = ROOT / "portal"
# Where web/build.mjs writes, relative to portal/ (or to its --out directory).
BUNDLES = ("staff/vendor", "visit-media/vendor")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (Node.js 20 with npm)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must check the committed bundle")
        pytest.skip(reason)
    return path


def test_committed_vendor_bundle_matches_a_fresh_build(tmp_path: Path) -> None:
    npm, node = _tool("npm"), _tool("node")
    # GIVEN a clean copy of web/ (no node_modules) installed exactly from its lockfile
    work = tmp_path / "web"
    work.mkdir()
    for name in ("package.json", "package-lock.json", "build.mjs"):
        shutil.copy2(WEB / name, work / name)
    for source in ("vendor", "visit-media"):
        shutil.copytree(WEB / source, work / source)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=work,
        check=True,
        timeout=300,
        capture_output=True,
    )
    # WHEN it builds
    out = tmp_path / "out"
    subprocess.run(
        [node, "build.mjs", "--out", str(out)],
        cwd=work,
        check=True,
        timeout=120,
        capture_output=True,
    )
    # THEN the committed files are exactly what the sources make
    built = {f"{b}/{p.name}": p.read_bytes() for b in BUNDLES for p in (out / b).iterdir()}
    committed = {f"{b}/{p.name}": p.read_bytes() for b in BUNDLES for p in (PORTAL / b).iterdir()}
    assert sorted(built) == sorted(committed), "run `node web/build.mjs` and commit the result"
    stale = [name for name in built if built[name] != committed[name]]
    assert stale == [], f"out of date: {stale}; run `cd web && npm ci && node build.mjs`"


def test_every_vendor_entry_has_an_exact_version() -> None:
    import json

    manifest = json.loads((WEB / "package.json").read_text("utf-8"))
    for name, version in manifest["devDependencies"].items():
        assert version[0].isdigit(), f"{name}: pin an exact version, not {version!r}"
