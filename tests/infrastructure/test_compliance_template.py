"""The compliance functions in template.yaml: the daily job writes the audit archive only
under its prefix, with Object Lock retention and never a delete; the API function deletes
nothing; both run on the PHI role path (the PHI key admits only it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tpm.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def policy_statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    props = template["Resources"][function]["Properties"]
    return [s for p in props["Policies"] for s in p["Statement"]]


def actions(statement: dict[str, Any]) -> list[str]:
    value = statement["Action"]
    return value if isinstance(value, list) else [value]


def test_the_daily_job_writes_archive_objects_with_retention_and_deletes_nothing(
    template: dict[str, Any],
) -> None:
    statements = policy_statements(template, "ComplianceDailyFunction")
    s3 = [s for s in statements if any(a.startswith("s3:") for a in actions(s))]
    granted = {a for s in s3 for a in actions(s)}
    assert "s3:PutObjectRetention" in granted
    assert not {a for a in granted if "Delete" in a or "Bypass" in a}
    archive = next(s for s in s3 if s["Sid"] == "AuditArchiveObjects")
    assert archive["Resource"] == {"Fn::Sub": "${AuditExportBucket.Arn}/audit-exports/*"}
    all_actions = {a for s in statements for a in actions(s)}
    assert "dynamodb:DeleteItem" not in all_actions
    props = template["Resources"]["ComplianceDailyFunction"]["Properties"]
    assert props["Events"]["Daily"]["Properties"]["Schedule"] == "rate(1 day)"
    assert props["RolePath"] == {"Fn::Sub": "/tpm/${AWS::StackName}/phi/"}


def test_the_compliance_api_deletes_nothing(template: dict[str, Any]) -> None:
    all_actions = {a for s in policy_statements(template, "ComplianceFunction") for a in actions(s)}
    assert not {a for a in all_actions if "Delete" in a}
    props = template["Resources"]["ComplianceFunction"]["Properties"]
    assert props["RolePath"] == {"Fn::Sub": "/tpm/${AWS::StackName}/phi/"}
