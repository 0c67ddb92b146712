"""Shared test setup. Tests never reach a network: AWS calls go to moto or a Stubber."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Fake credentials so no test can ever talk to a real AWS account.
for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "tpm-test",
}.items():
    os.environ[name] = value
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT
