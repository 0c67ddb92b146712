"""infrastructure/audit-queries.yaml (Glue tables and saved Athena queries over the audit
archive and CloudTrail) and the trail it reads: lint-clean, one saved query per question an
investigator asks, results encrypted and expiring, a read-only investigator role on the PHI
role path that needs MFA; the trail's files are write-once and validated."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tpm.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "infrastructure" / "audit-queries.yaml"


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return load_template(STACK)


def of_type(t: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in t["Resources"].items() if r["Type"] == kind}


def test_cfn_lint_reports_nothing() -> None:
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which(
        "cfn-lint"
    )
    assert cfn_lint, "cfn-lint is a dev dependency; install .[dev]"
    done = subprocess.run(
        [cfn_lint, str(STACK)], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_saved_query_for_each_question(stack: dict[str, Any]) -> None:
    queries = {
        p["Name"]: p["QueryString"] for p in of_type(stack, "AWS::Athena::NamedQuery").values()
    }
    assert set(queries) == {
        "tpm - everything user X did between T1 and T2",
        "tpm - everyone who opened patient P's record",
        "tpm - KMS decrypts for practice Q outside business hours",
        "tpm - every admin or permission change",
    }
    kms = queries["tpm - KMS decrypts for practice Q outside business hours"]
    assert "$.encryptionContext.practice" in kms
    for name, text in queries.items():
        if "FROM app_events" in text:
            assert "\"$path\" LIKE '%/events.jsonl'" in text, name


def test_the_tables_read_the_archive_and_the_trail(stack: dict[str, Any]) -> None:
    tables = {
        p["TableInput"]["Name"]: p["TableInput"]
        for p in of_type(stack, "AWS::Glue::Table").values()
    }
    app = tables["app_events"]["StorageDescriptor"]
    assert app["Location"] == {"Fn::Sub": "s3://${AuditExportBucketName}/audit-exports/"}
    columns = {c["Name"] for c in app["Columns"]}
    from tpm.security.audit_chain import ChainedEvent

    assert columns == set(ChainedEvent.model_fields)
    trail = tables["cloudtrail"]["StorageDescriptor"]
    assert trail["InputFormat"] == "com.amazon.emr.cloudtrail.CloudTrailInputFormat"


def test_results_are_encrypted_and_expire(stack: dict[str, Any]) -> None:
    (workgroup,) = of_type(stack, "AWS::Athena::WorkGroup").values()
    config = workgroup["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    results = stack["Resources"]["ResultsBucket"]["Properties"]
    assert results["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == {
        "Ref": "ResultsRetentionDays"
    }
    assert all(results["PublicAccessBlockConfiguration"].values())


def test_the_investigator_reads_only_and_needs_mfa(stack: dict[str, Any]) -> None:
    role = stack["Resources"]["InvestigatorRole"]["Properties"]
    assert role["Path"] == {"Fn::Sub": "/tpm/${TpmStackName}/phi/"}
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    granted = {
        a
        for policy in role["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert not {a for a in granted if "Delete" in a or a.startswith(("iam:", "glue:Update"))}
    archive_writes = [
        s
        for policy in role["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
        if "s3:PutObject" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert [s["Sid"] for s in archive_writes] == ["WriteResults"]  # results only


def test_the_trail_is_validated_write_once_and_records_kms_and_phi_data_events() -> None:
    template = load_template(ROOT / "template.yaml")
    trail = template["Resources"]["Trail"]["Properties"]
    assert trail["EnableLogFileValidation"] is True
    selectors = trail["AdvancedEventSelectors"]
    management = next(s for s in selectors if s["Name"] == "Management events")
    # KMS calls are management events; nothing excludes them.
    assert management["FieldSelectors"] == [{"Field": "eventCategory", "Equals": ["Management"]}]
    bucket = template["Resources"]["TrailBucket"]["Properties"]
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {
        "Mode": {"Ref": "AuditObjectLockMode"},
        "Years": {"Ref": "AuditRetentionYears"},
    }
    outputs = template["Outputs"]
    assert {"TrailBucketName", "OpsKeyArn", "AuditExportBucketName", "PhiKeyArn"} <= set(outputs)
