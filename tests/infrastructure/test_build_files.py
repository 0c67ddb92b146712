"""The files `sam build` reads besides template.yaml: the core layer Makefile and the
third-party layer's requirements."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = ROOT / "layers" / "core" / "Makefile"


def _pins(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_deps_layer_pins_equal_pyproject_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = (ROOT / "layers" / "deps" / "requirements.txt").read_text(encoding="utf-8")
    assert _pins(requirements.splitlines()) == project["dependencies"]
    assert all("==" in pin for pin in project["dependencies"])


def _make(workdir: Path, artifacts: str) -> subprocess.CompletedProcess[str]:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    return subprocess.run(
        [make, "-s", "-C", str(workdir), "build-CoreLayer", f"ARTIFACTS_DIR={artifacts}"],
        capture_output=True,
        text=True,
        check=False,
    )


def test_core_layer_build_ships_the_tpm_package(tmp_path: Path) -> None:
    result = _make(ROOT / "layers" / "core", str(tmp_path))
    assert result.returncode == 0, result.stderr
    shipped = tmp_path / "python" / "tpm"
    assert (shipped / "__init__.py").is_file()
    assert (shipped / "config.py").is_file()
    assert not list(shipped.rglob("__pycache__"))


def test_core_layer_build_follows_symlinks_and_drops_caches(tmp_path: Path) -> None:
    # GIVEN a package with a symlinked module and a bytecode cache
    source = tmp_path / "src"
    package = source / "tpm"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"\0")
    (tmp_path / "elsewhere.py").write_text("VALUE = 1\n", encoding="utf-8")
    (package / "linked.py").symlink_to(tmp_path / "elsewhere.py")
    shutil.copy(MAKEFILE, source / "Makefile")
    # WHEN the layer is built
    artifacts = tmp_path / "artifacts"
    result = _make(source, str(artifacts))
    # THEN the link is a real file and the cache is gone
    assert result.returncode == 0, result.stderr
    linked = artifacts / "python" / "tpm" / "linked.py"
    assert linked.is_file()
    assert not linked.is_symlink()
    assert linked.read_text(encoding="utf-8") == "VALUE = 1\n"
    assert not (artifacts / "python" / "tpm" / "__pycache__").exists()


def test_core_layer_build_refuses_to_run_without_an_artifacts_dir(tmp_path: Path) -> None:
    # GIVEN a copy of the layer source, so a faulty build cannot write into the checkout
    source = tmp_path / "src"
    (source / "tpm").mkdir(parents=True)
    (source / "tpm" / "__init__.py").write_text("", encoding="utf-8")
    shutil.copy(MAKEFILE, source / "Makefile")
    # WHEN ARTIFACTS_DIR is empty (it would otherwise copy into /python)
    result = _make(source, "")
    # THEN the build stops before copying anything
    assert result.returncode != 0
    assert not (source / "python").exists()
