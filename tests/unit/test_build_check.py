"""benchmarks.build_check: the template's environment resolved the way a deployed stack
has it, and the import check failing for the reasons it exists for."""

from __future__ import annotations

from pathlib import Path

from benchmarks.build_check import Built, function_environment, import_problem
from tpm.config import settings_from_env
from tpm.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]


def test_every_function_environment_resolves_and_validates() -> None:
    template = load_template(ROOT / "template.yaml")
    env = function_environment(template, "ReminderSweepFunction")
    assert env["TPM_PORTAL_URL"] == "https://portal.example.test/"
    assert env["TPM_STORE"] == "dynamodb://Table"
    assert env["TPM_KEYS"].startswith("kms://arn:aws:kms:us-east-1:123456789012:")
    assert "configuration_set=EmailConfigurationSet" in env["TPM_NOTIFY"]
    settings = settings_from_env(env)
    assert settings.environment == "aws"
    assert settings.identity_url.startswith("cognito://")


def _function(tmp_path: Path, source: str) -> Built:
    folder = tmp_path / "Fn"
    folder.mkdir()
    (folder / "app.py").write_text(source, encoding="utf-8")
    core = tmp_path / "CoreLayer" / "python"
    core.mkdir(parents=True)
    (core / "tpm").symlink_to(ROOT / "layers" / "core" / "tpm")
    deps = tmp_path / "DepsLayer" / "python"
    deps.mkdir(parents=True)
    return Built("Fn", "app.handler", folder, (core.parent, deps.parent))


def test_a_dependency_missing_from_the_layers_fails_the_import(tmp_path: Path) -> None:
    built = _function(tmp_path, "import pydantic\n\ndef handler(event, context):\n    return {}\n")
    problem = import_problem(built, {}, tmp_path)
    assert problem is not None
    assert "ModuleNotFoundError" in problem


def test_a_missing_handler_attribute_fails_the_import(tmp_path: Path) -> None:
    built = _function(tmp_path, "VALUE = 1\n")
    problem = import_problem(built, {}, tmp_path)
    assert problem is not None
    assert "AttributeError" in problem
