"""template.yaml as a security reviewer reads it: lint-clean, encrypted, private, least privilege.

Each rule is a function returning the problems it finds, so the same rule is tested twice:
on the real template (no problems) and on a copy broken on purpose (the problem is found).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tpm import errors
from tpm.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

PHI_KEY = {"Fn::If": ["CreatePhiKey", {"Fn::GetAtt": ["PhiKey", "Arn"]}, {"Ref": "PhiKeyArn"}]}
CRYPTO_ACTIONS = {
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
}
# SAM policy templates and AWS managed policies that include dynamodb:Scan (or worse).
SCAN_GRANTING_POLICIES = {
    "DynamoDBCrudPolicy",
    "DynamoDBReadPolicy",
    "AmazonDynamoDBFullAccess",
    "AmazonDynamoDBReadOnlyAccess",
}


# The codes handlers answer with (tpm.errors), plus the one for unexpected faults.
API_ERROR_CODES = {
    kind.code
    for kind in vars(errors).values()
    if isinstance(kind, type) and issubclass(kind, errors.TpmError)
} | {"internal_error"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


# ------------------------------------------------------------------ helpers


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def getatt_target(value: Any) -> str | None:
    """`!GetAtt X.Arn` and `{"Fn::GetAtt": ["X", "Arn"]}` both name X."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def ref_target(value: Any) -> str | None:
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_properties(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's properties with Globals.Function underneath, as SAM merges them."""
    defaults = (template.get("Globals") or {}).get("Function") or {}
    return {
        name: {**defaults, **res.get("Properties", {})}
        for name, res in resources(template, "AWS::Serverless::Function").items()
    }


def statements(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement anywhere: key, bucket and topic policies, inline role policies."""
    if isinstance(node, dict):
        # WAF rules also have a "Statement"; IAM statements are the ones with an Effect.
        for item in as_list(node.get("Statement", [])):
            if isinstance(item, dict) and "Effect" in item:
                yield where, item
        for key, value in node.items():
            yield from statements(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from statements(value, f"{where}[{i}]")


def waf_rules(rules: list[Any]) -> dict[str, dict[str, Any]]:
    """WAF rules by name, with the optional ones (`!If [Cond, rule, NoValue]`) unwrapped."""
    found = {}
    for rule in rules:
        if "Fn::If" in rule:
            rule = rule["Fn::If"][1]
        found[rule["Name"]] = rule
    return found


# ------------------------------------------------------------------ rules


def iam_problems(template: dict[str, Any]) -> list[str]:
    problems = []
    for where, stmt in statements(template["Resources"]):
        if stmt.get("Effect") != "Allow":
            continue  # a Deny on s3:* is how TLS-only is enforced
        for action in as_list(stmt.get("Action", [])):
            if action == "*" or (isinstance(action, str) and action.endswith(":*")):
                problems.append(f"{where}: allows {action}")
            if isinstance(action, str) and action.lower() == "dynamodb:scan":
                problems.append(f"{where}: allows dynamodb:Scan")
    for name, props in function_properties(template).items():
        for policy in as_list(props.get("Policies") or []):
            named = set(policy) if isinstance(policy, dict) else {str(policy)}
            for bad in named & SCAN_GRANTING_POLICIES:
                problems.append(f"{name}: {bad} grants dynamodb:Scan")
    return problems


def bucket_problems(template: dict[str, Any]) -> list[str]:
    problems = []
    policies = {
        ref_target(p["Properties"]["Bucket"]): p
        for p in resources(template, "AWS::S3::BucketPolicy").values()
    }
    for name, bucket in resources(template, "AWS::S3::Bucket").items():
        props = bucket.get("Properties", {})
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        algorithms = {r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules}
        if not algorithms or not algorithms <= {"aws:kms", "AES256"}:
            problems.append(f"{name}: not encrypted by default")
        block = props.get("PublicAccessBlockConfiguration", {})
        for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls"):
            if block.get(flag) is not True:
                problems.append(f"{name}: {flag} is not true")
        if block.get("RestrictPublicBuckets") is not True:
            problems.append(f"{name}: RestrictPublicBuckets is not true")
        ownership = props.get("OwnershipControls", {}).get("Rules", [{}])[0]
        if ownership.get("ObjectOwnership") != "BucketOwnerEnforced":
            problems.append(f"{name}: ACLs are not disabled")
        policy = policies.get(name)
        if policy is None:
            problems.append(f"{name}: no bucket policy")
            continue
        if policy.get("Condition") != bucket.get("Condition"):
            problems.append(f"{name}: policy and bucket exist under different conditions")
        tls_only = [
            s
            for _, s in statements(policy)
            if s.get("Effect") == "Deny"
            and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            and "s3:*" in as_list(s.get("Action"))
            and len(as_list(s.get("Resource"))) == 2  # the bucket and its objects
        ]
        if not tls_only:
            problems.append(f"{name}: plain-HTTP requests are not denied")
    return problems


def log_group_problems(template: dict[str, Any]) -> list[str]:
    problems = []
    groups = resources(template, "AWS::Logs::LogGroup")
    for name, group in groups.items():
        props = group.get("Properties", {})
        if not props.get("KmsKeyId"):
            problems.append(f"{name}: not encrypted with a KMS key")
        if not props.get("RetentionInDays"):
            problems.append(f"{name}: kept forever")
    # A function without its own group would log to one Lambda makes: unencrypted, no expiry.
    for name, props in function_properties(template).items():
        target = ref_target((props.get("LoggingConfig") or {}).get("LogGroup"))
        if target not in groups:
            problems.append(f"{name}: does not log to a group defined in this template")
    return problems


def phi_key_reference_problems(template: dict[str, Any]) -> list[str]:
    """PhiKey exists only when no key is supplied: every use must be the !If expression."""
    problems = []

    def walk(node: Any, where: str) -> None:
        if node == PHI_KEY:
            return
        if getatt_target(node) == "PhiKey" or ref_target(node) == "PhiKey":
            problems.append(f"{where}: uses PhiKey outside !If CreatePhiKey")
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    for name, res in template["Resources"].items():
        if res.get("Condition") != "CreatePhiKey":
            walk(res, name)
    walk(template.get("Globals", {}), "Globals")
    walk(template.get("Outputs", {}), "Outputs")
    return problems


# ------------------------------------------------------------------ the real template


def test_cfn_lint_reports_no_errors_or_warnings() -> None:
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which(
        "cfn-lint"
    )
    assert cfn_lint, "cfn-lint is a dev dependency; install .[dev]"
    result = subprocess.run(
        [cfn_lint, str(TEMPLATE_PATH)], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_functions_and_layers_target_python312_on_arm64(template: dict[str, Any]) -> None:
    functions = function_properties(template)
    assert functions
    for name, props in functions.items():
        assert (props.get("Runtime"), props.get("Architectures")) == ("python3.12", ["arm64"]), name
        assert props.get("Tracing") == "Active", name
    for name, layer in resources(template, "AWS::Serverless::LayerVersion").items():
        props = layer["Properties"]
        assert props["CompatibleRuntimes"] == ["python3.12"], name
        assert props["CompatibleArchitectures"] == ["arm64"], name


def test_table_is_encrypted_with_the_phi_key_recoverable_and_protected(
    template: dict[str, Any],
) -> None:
    table = template["Resources"]["Table"]
    props = table["Properties"]
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": PHI_KEY,
    }
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_phi_key_is_created_only_when_none_is_supplied(template: dict[str, Any]) -> None:
    assert template["Conditions"]["CreatePhiKey"] == {"Fn::Equals": [{"Ref": "PhiKeyArn"}, ""]}
    assert template["Parameters"]["PhiKeyArn"]["Default"] == ""
    assert template["Resources"]["PhiKey"]["Condition"] == "CreatePhiKey"
    assert phi_key_reference_problems(template) == []
    assert template["Outputs"]["PhiKeyArn"]["Value"] == PHI_KEY


def test_every_kms_key_rotates(template: dict[str, Any]) -> None:
    keys = resources(template, "AWS::KMS::Key")
    assert {"PhiKey", "OpsKey"} <= set(keys)
    assert all(k["Properties"]["EnableKeyRotation"] is True for k in keys.values())


def test_phi_key_is_usable_only_by_phi_roles_or_through_dynamodb_and_backup(
    template: dict[str, Any],
) -> None:
    policy = template["Resources"]["PhiKey"]["Properties"]["KeyPolicy"]
    for _, stmt in statements(policy):
        crypto = CRYPTO_ACTIONS & set(as_list(stmt["Action"]))
        if not crypto:
            continue
        condition = stmt.get("Condition", {})
        role_path = condition.get("ArnLike", {}).get("aws:PrincipalArn", {})
        via = condition.get("StringEquals", {}).get("kms:ViaService", {})
        assert role_path or via, f"{stmt['Sid']} lets any admin use the key"
        if role_path:
            assert "/phi/*" in role_path["Fn::Sub"]
            # Direct use (field envelopes) always carries an encryption context.
            assert condition["Null"] == {"kms:EncryptionContextKeys": "false"}
        else:
            # The table's own encryption, and AWS Backup's copies of it (advanced backups).
            assert via in (
                {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"},
                {"Fn::Sub": "backup.${AWS::Region}.amazonaws.com"},
            )
    admin = next(s for _, s in statements(policy) if s["Sid"].startswith("AccountAdministers"))
    assert not CRYPTO_ACTIONS & set(admin["Action"])
    assert "kms:CreateGrant" not in admin["Action"]  # a grant would bypass the policy


def test_buckets_are_encrypted_private_and_tls_only(template: dict[str, Any]) -> None:
    assert {"DocumentsBucket", "AuditExportBucket", "AccessLogsBucket", "TrailBucket"} <= set(
        resources(template, "AWS::S3::Bucket")
    )
    assert bucket_problems(template) == []


@pytest.mark.parametrize("name", ["DocumentsBucket", "AuditExportBucket"])
def test_phi_buckets_use_the_phi_key_and_refuse_other_encryption(
    template: dict[str, Any], name: str
) -> None:
    props = template["Resources"][name]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule == {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": PHI_KEY},
        "BucketKeyEnabled": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert ref_target(props["LoggingConfiguration"]["DestinationBucketName"]) == "AccessLogsBucket"
    policy = next(
        p
        for p in resources(template, "AWS::S3::BucketPolicy").values()
        if ref_target(p["Properties"]["Bucket"]) == name
    )
    denies = [s["Condition"] for _, s in statements(policy) if s.get("Action") == "s3:PutObject"]
    assert {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}} in denies
    assert {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": PHI_KEY}
    } in denies


def test_audit_export_is_immutable_for_the_retention_period(template: dict[str, Any]) -> None:
    props = template["Resources"]["AuditExportBucket"]["Properties"]
    assert props["ObjectLockEnabled"] is True
    retention = props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert retention == {
        "Mode": {"Ref": "AuditObjectLockMode"},
        "Years": {"Ref": "AuditRetentionYears"},
    }
    params = template["Parameters"]
    assert params["AuditObjectLockMode"]["Default"] == "COMPLIANCE"
    assert params["AuditRetentionYears"]["Default"] >= 6


def test_log_groups_are_encrypted_and_expire(template: dict[str, Any]) -> None:
    assert log_group_problems(template) == []
    assert template["Parameters"]["LogRetentionDays"]["Default"] >= 2192  # 6 years


def test_no_statement_allows_everything_or_a_scan(template: dict[str, Any]) -> None:
    assert iam_problems(template) == []


def test_platform_function_has_no_data_access(template: dict[str, Any]) -> None:
    props = template["Resources"]["PlatformFunction"]["Properties"]
    assert "Policies" not in props
    assert "Role" not in props
    assert "RolePath" not in props  # the PHI key admits only roles on the PHI path


def test_api_stage_logs_without_phi_traces_and_throttles(template: dict[str, Any]) -> None:
    api = template["Resources"]["Api"]["Properties"]
    assert api["TracingEnabled"] is True
    destination = getatt_target(api["AccessLogSetting"]["DestinationArn"])
    assert destination in resources(template, "AWS::Logs::LogGroup")
    fmt = api["AccessLogSetting"]["Format"]
    assert "\n" not in fmt  # API Gateway writes one line per request
    fields = json.loads(fmt)
    assert {"requestId", "ip", "httpMethod", "resourcePath", "status", "latency", "userSub"} <= set(
        fields
    )
    for leak in ("$context.path", "$input", "querystring", "requestOverride", "body"):
        assert leak not in fmt
    (setting,) = api["MethodSettings"]
    assert setting["DataTraceEnabled"] is False
    assert setting["MetricsEnabled"] is True
    assert setting["ThrottlingRateLimit"] == {"Ref": "ThrottleRate"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ThrottleBurst"}


def test_api_and_custom_domain_refuse_tls_below_1_2(template: dict[str, Any]) -> None:
    api = template["Resources"]["Api"]["Properties"]
    domain = template["Resources"]["ApiDomainName"]
    assert domain["Condition"] == "HasCustomDomain"
    for props in (api, domain["Properties"]):
        assert props["SecurityPolicy"].startswith("SecurityPolicy_TLS13_1_2")
        assert props["EndpointAccessMode"] == "STRICT"


def test_gateway_errors_use_the_api_error_shape(template: dict[str, Any]) -> None:
    responses = template["Resources"]["Api"]["Properties"]["GatewayResponses"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED", "ACCESS_DENIED", "THROTTLED"} <= set(
        responses
    )
    for name, response in responses.items():
        body = response["ResponseTemplates"]["application/json"]
        assert "$context.error" not in body, f"{name} echoes API Gateway's message"
        parsed = json.loads(body)
        assert parsed["request_id"] == "$context.requestId", name
        assert set(parsed["error"]) == {"code", "message", "details"}, name
        assert parsed["error"]["code"] in API_ERROR_CODES, name
        headers = response["ResponseParameters"]["Headers"]
        assert headers["Cache-Control"] == "'no-store'", name


def test_routes_need_a_cognito_token_unless_marked_public(template: dict[str, Any]) -> None:
    auth = template["Resources"]["Api"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "CognitoAuthorizer"
    assert getatt_target(auth["Authorizers"]["CognitoAuthorizer"]["UserPoolArn"]) == "UserPool"
    pool = template["Resources"]["UserPool"]["Properties"]
    assert pool["MfaConfiguration"] in ("ON", "OPTIONAL")
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    client = template["Resources"]["UserPoolClient"]["Properties"]
    # The API is the only client: no sign-in flow a browser could use at Cognito directly,
    # and a secret so a refresh token is useless outside the API.
    assert client["GenerateSecret"] is True
    assert client["ExplicitAuthFlows"] == [
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    ]
    assert "UsernameAttributes" not in pool  # usernames are user ids: one email, two practices
    assert "DeviceConfiguration" not in pool  # a remembered device would skip MFA
    groups = {
        g["Properties"]["GroupName"]
        for g in resources(template, "AWS::Cognito::UserPoolGroup").values()
    }
    assert groups == {
        "owner",
        "admin",
        "compliance",
        "clinician",
        "supervisor",
        "biller",
        "front_desk",
        "patient",
        "proxy",
        "mfa",
    }


COGNITO_GRANTS = {
    # Sign-in, MFA, accepting invitations, password changes and resets (a reset ends the
    # account's refresh tokens).
    "IdentityFunction": {
        "cognito-idp:AdminInitiateAuth",
        "cognito-idp:AdminRespondToAuthChallenge",
        "cognito-idp:AdminCreateUser",
        "cognito-idp:AdminSetUserPassword",
        "cognito-idp:AdminAddUserToGroup",
        "cognito-idp:AdminRemoveUserFromGroup",
        "cognito-idp:AdminSetUserMFAPreference",
        "cognito-idp:AdminUserGlobalSignOut",
        "cognito-idp:DescribeUserPoolClient",
    },
    # Role changes, deactivation and reactivation.
    "UsersFunction": {
        "cognito-idp:AdminAddUserToGroup",
        "cognito-idp:AdminRemoveUserFromGroup",
        "cognito-idp:AdminDisableUser",
        "cognito-idp:AdminEnableUser",
        "cognito-idp:AdminUserGlobalSignOut",
    },
}


def test_cognito_grants_are_exactly_the_admin_calls_each_function_makes_on_the_pool(
    template: dict[str, Any],
) -> None:
    granted: dict[str, set[str]] = {}
    for name, props in function_properties(template).items():
        for policy in as_list(props.get("Policies") or []):
            for _, stmt in statements(policy):
                actions = {a for a in as_list(stmt["Action"]) if a.startswith("cognito-idp:")}
                if not actions:
                    continue
                assert stmt["Effect"] == "Allow"
                assert getatt_target(stmt["Resource"]) == "UserPool", f"{name}: not this pool only"
                granted.setdefault(name, set()).update(actions)
    assert granted == COGNITO_GRANTS


def test_api_paths_are_versioned_except_the_fallback(template: dict[str, Any]) -> None:
    paths = [
        event["Properties"]["Path"]
        for props in function_properties(template).values()
        for event in (props.get("Events") or {}).values()
        if event["Type"] == "Api"
    ]
    assert "/{proxy+}" in paths
    assert [p for p in paths if p != "/{proxy+}" and not p.startswith("/v1/")] == []


def test_waf_guards_the_stage(template: dict[str, Any]) -> None:
    acl = template["Resources"]["ApiWebAcl"]["Properties"]
    assert acl["Scope"] == "REGIONAL"
    rules = waf_rules(acl["Rules"])
    assert {"AWSManagedRulesCommonRuleSet", "RateLimitPerIp", "RateLimitPerPortalClient"} <= set(
        rules
    )
    assert rules["RateLimitPerIp"]["Action"] == {"Block": {}}
    assert len({r["Priority"] for r in rules.values()}) == len(rules)
    association = template["Resources"]["ApiWebAclAssociation"]["Properties"]
    assert association["ResourceArn"]["Fn::Sub"].endswith("/restapis/${Api}/stages/${Api.Stage}")
    assert getatt_target(association["WebACLArn"]) == "ApiWebAcl"


def test_trail_records_phi_data_events_when_enabled(template: dict[str, Any]) -> None:
    assert template["Parameters"]["EnableCloudTrail"]["Default"] == "true"
    trail = template["Resources"]["Trail"]
    assert trail["Condition"] == "CreateTrail"
    props = trail["Properties"]
    assert props["EnableLogFileValidation"] is True
    assert props["IsMultiRegionTrail"] is True
    assert getatt_target(props["KMSKeyId"]) == "OpsKey"
    selectors = [s["FieldSelectors"] for s in props["AdvancedEventSelectors"]]
    table_selector = next(
        s for s in selectors if {"Field": "resources.type", "Equals": ["AWS::DynamoDB::Table"]} in s
    )
    arn = next(f for f in table_selector if f["Field"] == "resources.ARN")
    assert getatt_target(arn["Equals"][0]) == "Table"


def test_outputs_name_what_a_deployer_needs(template: dict[str, Any]) -> None:
    assert {
        "ApiUrl",
        "TableName",
        "PhiKeyArn",
        "DocumentsBucketName",
        "UserPoolId",
        "UserPoolClientId",
    } <= set(template["Outputs"])


# ------------------------------------------------------------------ the rules catch breakage


def test_rules_catch_a_scan_a_wildcard_and_a_crud_policy(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["PlatformFunction"]["Properties"]["Policies"] = [
        {"DynamoDBCrudPolicy": {"TableName": {"Ref": "Table"}}},
        {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:Scan"], "Resource": "*"}]},
        {"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]},
    ]
    problems = iam_problems(broken)
    assert any("DynamoDBCrudPolicy" in p for p in problems)
    assert any("dynamodb:Scan" in p and "Policies" in p for p in problems)
    assert any("kms:*" in p for p in problems)


def test_rules_catch_a_public_plaintext_bucket(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["Loose"] = {
        "Type": "AWS::S3::Bucket",
        "Properties": {"PublicAccessBlockConfiguration": {"BlockPublicAcls": True}},
    }
    problems = [p for p in bucket_problems(broken) if p.startswith("Loose")]
    assert "Loose: not encrypted by default" in problems
    assert "Loose: RestrictPublicBuckets is not true" in problems
    assert "Loose: no bucket policy" in problems


def test_rules_catch_a_plain_log_group_and_a_function_without_one(
    template: dict[str, Any],
) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["PlainLogs"] = {"Type": "AWS::Logs::LogGroup", "Properties": {}}
    del broken["Resources"]["PlatformFunction"]["Properties"]["LoggingConfig"]
    problems = log_group_problems(broken)
    assert "PlainLogs: not encrypted with a KMS key" in problems
    assert "PlainLogs: kept forever" in problems
    assert "PlatformFunction: does not log to a group defined in this template" in problems


def test_rules_catch_a_bare_reference_to_the_optional_phi_key(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["Table"]["Properties"]["SSESpecification"]["KMSMasterKeyId"] = {
        "Ref": "PhiKey"
    }
    assert phi_key_reference_problems(broken) == [
        "Table/Properties/SSESpecification/KMSMasterKeyId: uses PhiKey outside !If CreatePhiKey"
    ]


# ------------------------------------------------------------------ deployability


def test_log_groups_and_the_failure_queue_do_not_block_a_retried_create(
    template: dict[str, Any],
) -> None:
    # A named log group kept after a failed first deploy makes the retry fail ("already
    # exists"); RetainExceptOnCreate deletes it only when the stack's creation rolls back.
    for kind in ("AWS::Logs::LogGroup", "AWS::SQS::Queue"):
        for name in resources(template, kind):
            assert template["Resources"][name]["DeletionPolicy"] == "RetainExceptOnCreate", name


def test_no_function_reserves_concurrency_a_new_account_cannot_grant(
    template: dict[str, Any],
) -> None:
    for name, props in function_properties(template).items():
        assert "ReservedConcurrentExecutions" not in props, name


def test_every_function_builds_links_to_the_configured_portal(template: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["TPM_PORTAL_URL"] == {"Ref": "PortalUrl"}
    assert template["Parameters"]["PortalUrl"]["AllowedPattern"].startswith("^https://")
    for name, props in function_properties(template).items():
        local = ((props.get("Environment") or {}).get("Variables")) or {}
        assert "TPM_PORTAL_URL" not in local, f"{name} overrides the portal address"


def scheduled_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: props
        for name, props in function_properties(template).items()
        if any(
            e["Type"] in ("Schedule", "ScheduleV2") for e in (props.get("Events") or {}).values()
        )
    }


def async_problems(template: dict[str, Any]) -> list[str]:
    """Every scheduled function: Lambda retries then an on-failure destination into the
    encrypted failure queue, EventBridge retries then the same queue, an error alarm."""
    problems = []
    alarmed = {
        ref_target(d["Value"])
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        for d in alarm["Properties"].get("Dimensions", [])
        if alarm["Properties"].get("MetricName") == "Errors"
    }
    for name, props in scheduled_functions(template).items():
        config = props.get("EventInvokeConfig") or {}
        on_failure = (config.get("DestinationConfig") or {}).get("OnFailure") or {}
        if on_failure.get("Type") != "SQS" or getatt_target(on_failure.get("Destination")) != (
            "AsyncFailuresQueue"
        ):
            problems.append(f"{name}: no on-failure destination")
        if not 0 <= config.get("MaximumRetryAttempts", -1) <= 2:
            problems.append(f"{name}: retry count not set")
        for event_name, event in props["Events"].items():
            if event["Type"] not in ("Schedule", "ScheduleV2"):
                continue
            event_props = event["Properties"]
            if "RetryPolicy" not in event_props:
                problems.append(f"{name}.{event_name}: no EventBridge retry policy")
            dead = (event_props.get("DeadLetterConfig") or {}).get("Arn")
            if getatt_target(dead) != "AsyncFailuresQueue":
                problems.append(f"{name}.{event_name}: no dead-letter queue")
        if name not in alarmed:
            problems.append(f"{name}: no error alarm")
    return problems


def test_scheduled_functions_retry_then_land_in_the_encrypted_failure_queue(
    template: dict[str, Any],
) -> None:
    assert set(scheduled_functions(template)) >= {
        "ReminderSweepFunction",
        "AuditCheckpointFunction",
    }
    assert async_problems(template) == []
    queue = template["Resources"]["AsyncFailuresQueue"]["Properties"]
    assert getatt_target(queue["KmsMasterKeyId"]) == "OpsKey"


def test_rules_catch_a_silent_scheduled_function(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    props = broken["Resources"]["AuditCheckpointFunction"]["Properties"]
    del props["EventInvokeConfig"]
    del props["Events"]["Hourly"]["Properties"]["DeadLetterConfig"]
    del broken["Resources"]["AuditCheckpointErrorsAlarm"]
    assert async_problems(broken) == [
        "AuditCheckpointFunction: no on-failure destination",
        "AuditCheckpointFunction: retry count not set",
        "AuditCheckpointFunction.Hourly: no dead-letter queue",
        "AuditCheckpointFunction: no error alarm",
    ]


def test_the_table_is_backed_up_for_the_record_retention_period(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["EnableBackup"]["Default"] == "true"
    assert params["BackupRetentionDays"]["MinValue"] >= 2192  # 6 years
    plan = template["Resources"]["BackupPlan"]
    assert plan["Condition"] == "CreateBackup"
    (rule,) = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert rule["Lifecycle"] == {"DeleteAfterDays": {"Ref": "BackupRetentionDays"}}
    copy_actions = rule["CopyActions"]["Fn::If"]
    assert copy_actions[0] == "HasBackupCopy"
    assert copy_actions[1][0]["DestinationBackupVaultArn"] == {"Ref": "BackupCopyVaultArn"}
    selection = template["Resources"]["BackupSelection"]["Properties"]["BackupSelection"]
    assert [getatt_target(r) for r in selection["Resources"]] == ["Table"]
    vault = template["Resources"]["BackupVault"]["Properties"]
    assert vault["EncryptionKeyArn"] == PHI_KEY


def test_reminder_email_goes_through_a_suppressing_tls_only_configuration_set(
    template: dict[str, Any],
) -> None:
    config = template["Resources"]["EmailConfigurationSet"]["Properties"]
    assert config["DeliveryOptions"] == {"TlsPolicy": "REQUIRE"}
    assert set(config["SuppressionOptions"]["SuppressedReasons"]) == {"BOUNCE", "COMPLAINT"}
    sweep = template["Resources"]["ReminderSweepFunction"]["Properties"]
    notify = sweep["Environment"]["Variables"]["TPM_NOTIFY"]["Fn::Sub"]
    assert "configuration_set=${EmailConfigurationSet}" in notify
    alarms = {
        a["Properties"]["MetricName"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
    }
    assert {"Reputation.BounceRate", "Reputation.ComplaintRate"} <= alarms


def waiver_problems(template: dict[str, Any]) -> list[str]:
    """checkov waivers live on their resource, one check each, with a one-line reason."""
    problems = []
    for name, res in template["Resources"].items():
        skips = ((res.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
        seen = set()
        for skip in skips:
            check = str(skip.get("id", ""))
            comment = str(skip.get("comment", "")).strip()
            if not check.startswith("CKV_") or "*" in check:
                problems.append(f"{name}: waiver without one exact check id")
            if len(comment) < 20 or "\n" in comment:
                problems.append(f"{name}: {check} waived without a one-line reason")
            if check in seen:
                problems.append(f"{name}: {check} waived twice")
            seen.add(check)
    return problems


def test_every_checkov_waiver_names_one_check_and_gives_a_reason(template: dict[str, Any]) -> None:
    assert waiver_problems(template) == []
    portal = load_template(ROOT / "infrastructure" / "portal.yaml")
    assert waiver_problems(portal) == []
    script = (ROOT / "scripts" / "checkov").read_text(encoding="utf-8")
    assert "--skip-check" not in script  # no bulk waivers on the command line
    assert "scripts/checkov" in (ROOT / "scripts" / "test").read_text(encoding="utf-8")


def test_rules_catch_a_waiver_without_a_reason(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["Table"]["Metadata"] = {"checkov": {"skip": [{"id": "CKV_AWS_28"}]}}
    assert waiver_problems(broken) == ["Table: CKV_AWS_28 waived without a one-line reason"]


def test_an_unverified_audit_chain_raises_an_alarm(
    template: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # The alarm watches exactly the metric the code emits when it refuses to append.
    from tpm.observability import METRICS_NAMESPACE, alarm_metric
    from tpm.security.audit import UNVERIFIED_METRIC

    alarm_metric(UNVERIFIED_METRIC)
    emitted = json.loads(capsys.readouterr().out)
    (directive,) = emitted["_aws"]["CloudWatchMetrics"]
    props = template["Resources"]["AuditChainUnverifiedAlarm"]["Properties"]
    assert props["Namespace"] == directive["Namespace"] == METRICS_NAMESPACE
    assert props["MetricName"] == directive["Metrics"][0]["Name"] == UNVERIFIED_METRIC
    dims = {d["Name"]: d["Value"] for d in props["Dimensions"]}
    assert dims == {name: emitted[name] for name in directive["Dimensions"][0]}
    assert props["Threshold"] == 1
    assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
