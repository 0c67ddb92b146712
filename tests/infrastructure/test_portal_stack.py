"""infrastructure/portal.yaml as a security reviewer reads it: lint-clean, a private bucket
reached only through CloudFront's origin access control, TLS 1.2+, the same strict headers
`tpm dev` sends, access logs, and a WAF in front.

Each rule returns the problems it finds, so it is tested on the real template (none) and
on a copy broken on purpose (found)."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tpm.local.server import MEDIA_FRAME_HEADERS, PORTAL_HEADERS
from tpm.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
PORTAL_STACK = ROOT / "infrastructure" / "portal.yaml"
Template = dict[str, Any]


@pytest.fixture(scope="module")
def stack() -> Template:
    return load_template(PORTAL_STACK)


def resources(t: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r.get("Properties", {}) for k, r in t["Resources"].items() if r["Type"] == kind}


def distribution(t: Template) -> dict[str, Any]:
    (props,) = resources(t, "AWS::CloudFront::Distribution").values()
    config: dict[str, Any] = props["DistributionConfig"]
    return config


def headers_policy(t: Template, name: str = "SecurityHeaders") -> dict[str, Any]:
    props = resources(t, "AWS::CloudFront::ResponseHeadersPolicy")[name]
    config: dict[str, Any] = props["ResponseHeadersPolicyConfig"]
    return config


def directives(policy: str) -> dict[str, str]:
    parts = (d.strip().split(None, 1) for d in policy.split(";") if d.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


# ---- rules -----------------------------------------------------------------------------------


def buckets_not_private(t: Template) -> list[str]:
    problems = []
    for name, props in resources(t, "AWS::S3::Bucket").items():
        block = props.get("PublicAccessBlockConfiguration", {})
        flags = (
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        )
        if not all(block.get(f) is True for f in flags):
            problems.append(f"{name}: public access not fully blocked")
        if not props.get("BucketEncryption"):
            problems.append(f"{name}: no default encryption")
    policies = {p["Bucket"]["Ref"]: p for p in resources(t, "AWS::S3::BucketPolicy").values()}
    for name in resources(t, "AWS::S3::Bucket"):
        statements = policies.get(name, {}).get("PolicyDocument", {}).get("Statement", [])
        tls_only = any(
            s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in statements
        )
        if not tls_only:
            problems.append(f"{name}: no deny of non-TLS requests")
        for s in statements:
            if s["Effect"] == "Allow" and s.get("Principal") in ("*", {"AWS": "*"}):
                problems.append(f"{name}: allows everyone")
    return problems


def site_not_behind_oac(t: Template) -> list[str]:
    problems = []
    oacs = resources(t, "AWS::CloudFront::OriginAccessControl")
    s3_origins = [o for o in distribution(t)["Origins"] if "S3OriginConfig" in o]
    if not s3_origins:
        problems.append("no S3 origin")
    for origin in s3_origins:
        ref = origin.get("OriginAccessControlId", {}).get("Fn::GetAtt", [""])[0]
        if ref not in oacs:
            problems.append(f"origin {origin['Id']}: no origin access control")
        if origin["S3OriginConfig"].get("OriginAccessIdentity"):
            problems.append(f"origin {origin['Id']}: legacy origin access identity")
    for name, props in oacs.items():
        if props["OriginAccessControlConfig"].get("SigningBehavior") != "always":
            problems.append(f"{name}: does not sign every request")
    return problems


def weak_tls(t: Template) -> list[str]:
    config = distribution(t)
    problems = []
    # No default (*.cloudfront.net) certificate: it would accept TLS 1.0.
    custom = config["ViewerCertificate"]
    if "CloudFrontDefaultCertificate" in custom or "Fn::If" in custom:
        problems.append("the distribution can fall back to the default certificate")
    if custom.get("MinimumProtocolVersion") != "TLSv1.2_2021":
        problems.append("custom certificate allows TLS below 1.2")
    behaviours = [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]
    for b in behaviours:
        if b["ViewerProtocolPolicy"] not in ("redirect-to-https", "https-only"):
            problems.append(f"{b.get('PathPattern', 'default')}: plain HTTP allowed")
    for origin in config["Origins"]:
        custom_origin = origin.get("CustomOriginConfig")
        if custom_origin and (
            custom_origin.get("OriginProtocolPolicy") != "https-only"
            or custom_origin.get("OriginSSLProtocols") != ["TLSv1.2"]
        ):
            problems.append(f"origin {origin['Id']}: not TLS 1.2 only")
    return problems


def missing_security_headers(t: Template) -> list[str]:
    problems = []
    config = headers_policy(t)["SecurityHeadersConfig"]
    hsts = config.get("StrictTransportSecurity", {})
    if not (hsts.get("Preload") and hsts.get("IncludeSubdomains")):
        problems.append("HSTS without preload/includeSubDomains")
    if hsts.get("AccessControlMaxAgeSec", 0) < 31536000:
        problems.append("HSTS max-age under a year")
    if "ContentSecurityPolicy" not in config:
        problems.append("no Content-Security-Policy")
    if config.get("FrameOptions", {}).get("FrameOption") != "DENY":
        problems.append("framing not denied")
    if config.get("ReferrerPolicy", {}).get("ReferrerPolicy") != "no-referrer":
        problems.append("referrer leaks")
    if not config.get("ContentTypeOptions", {}).get("Override"):
        problems.append("no X-Content-Type-Options")
    custom = {
        i["Header"] for i in headers_policy(t).get("CustomHeadersConfig", {}).get("Items", [])
    }
    if "Permissions-Policy" not in custom:
        problems.append("no Permissions-Policy")
    dist = distribution(t)
    for b in [dist["DefaultCacheBehavior"], *dist.get("CacheBehaviors", [])]:
        if "ResponseHeadersPolicyId" not in b:
            problems.append(f"{b.get('PathPattern', 'default')}: no headers policy")
    return problems


def unprotected_or_unlogged(t: Template) -> list[str]:
    problems = []
    acls = resources(t, "AWS::WAFv2::WebACL")
    config = distribution(t)
    attached = config.get("WebACLId", {}).get("Fn::GetAtt", [""])[0]
    if attached not in acls:
        problems.append("no WAF web ACL attached")
    elif acls[attached]["Scope"] != "CLOUDFRONT":
        problems.append("WAF web ACL is not CLOUDFRONT scope")
    elif not any("RateBasedStatement" in r["Statement"] for r in acls[attached]["Rules"]):
        problems.append("WAF has no rate limit")
    if not config.get("Logging", {}).get("Bucket"):
        problems.append("no CloudFront access logs")
    return problems


RULES: list[Callable[[Template], list[str]]] = [
    buckets_not_private,
    site_not_behind_oac,
    weak_tls,
    missing_security_headers,
    unprotected_or_unlogged,
]


# ---- tests -----------------------------------------------------------------------------------


def test_cfn_lint_reports_no_errors_or_warnings() -> None:
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which(
        "cfn-lint"
    )
    assert cfn_lint, "cfn-lint is a dev dependency; install .[dev]"
    result = subprocess.run(
        [cfn_lint, str(PORTAL_STACK)], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_the_portal_stack_passes(stack: Template, rule: Callable[[Template], list[str]]) -> None:
    assert rule(stack) == []


def _break_public(t: Template) -> None:
    t["Resources"]["SiteBucket"]["Properties"]["PublicAccessBlockConfiguration"][
        "RestrictPublicBuckets"
    ] = False


def _break_oac(t: Template) -> None:
    distribution(t)["Origins"][0].pop("OriginAccessControlId")


def _break_tls(t: Template) -> None:
    distribution(t)["ViewerCertificate"]["MinimumProtocolVersion"] = "TLSv1_2016"


def _break_headers(t: Template) -> None:
    config = headers_policy(t)["SecurityHeadersConfig"]
    config.pop("ContentSecurityPolicy")
    config["StrictTransportSecurity"]["Preload"] = False


def _break_waf(t: Template) -> None:
    distribution(t).pop("WebACLId")


@pytest.mark.parametrize(
    ("rule", "breaker"),
    [
        (buckets_not_private, _break_public),
        (site_not_behind_oac, _break_oac),
        (weak_tls, _break_tls),
        (missing_security_headers, _break_headers),
        (unprotected_or_unlogged, _break_waf),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_each_rule_finds_its_problem(
    stack: Template,
    rule: Callable[[Template], list[str]],
    breaker: Callable[[Template], None],
) -> None:
    broken = copy.deepcopy(stack)
    breaker(broken)
    assert rule(broken) != []


def test_cloudfront_and_tpm_dev_send_the_same_content_security_policy(stack: Template) -> None:
    csp = headers_policy(stack)["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    aws = directives(csp["ContentSecurityPolicy"]["Fn::Sub"])
    local = directives(PORTAL_HEADERS["Content-Security-Policy"])
    # The same directives; in AWS connect-src adds the API host (locally it is 'self').
    assert aws.keys() == local.keys()
    assert {k: v for k, v in aws.items() if k != "connect-src"} == {
        k: v for k, v in local.items() if k != "connect-src"
    }
    assert aws["connect-src"] == "'self' https://${ApiDomain}"
    assert local["connect-src"] == "'self'"


def test_the_other_security_headers_agree_too(stack: Template) -> None:
    config = headers_policy(stack)
    custom = {i["Header"]: i["Value"] for i in config["CustomHeadersConfig"]["Items"]}
    assert custom["Permissions-Policy"] == PORTAL_HEADERS["Permissions-Policy"]
    security = config["SecurityHeadersConfig"]
    assert security["FrameOptions"]["FrameOption"] == PORTAL_HEADERS["X-Frame-Options"]
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == PORTAL_HEADERS["Referrer-Policy"]


def test_the_staff_app_is_served_from_the_same_distribution_with_the_same_headers(
    stack: Template,
) -> None:
    # One distribution, one default behaviour: /staff/ gets the portal's response headers
    config = distribution(stack)
    default = config["DefaultCacheBehavior"]
    assert default["ResponseHeadersPolicyId"] == {"Ref": "SecurityHeaders"}
    assert not any(b["PathPattern"].startswith("/staff") for b in config["CacheBehaviors"])
    # and its index document through the viewer-request function
    (association,) = default["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    assert association["FunctionARN"] == {"Fn::GetAtt": ["IndexRewrite", "FunctionARN"]}
    code = stack["Resources"]["IndexRewrite"]["Properties"]["FunctionCode"]
    assert '"/staff/"' in code
    assert '"index.html"' in code
    assert (ROOT / "portal" / "staff" / "index.html").is_file()


def test_the_stack_refuses_regions_other_than_us_east_1(stack: Template) -> None:
    assertion = stack["Rules"]["OnlyInUsEast1"]["Assertions"][0]["Assert"]
    assert assertion == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}


def test_api_requests_carry_the_edge_secret_and_the_viewer_address(stack: Template) -> None:
    config = distribution(stack)
    (api,) = [o for o in config["Origins"] if o["Id"] == "api"]
    assert api["OriginCustomHeaders"] == [
        {"HeaderName": "X-Tpm-Edge", "HeaderValue": {"Ref": "EdgeSecret"}}
    ]
    assert stack["Parameters"]["EdgeSecret"]["NoEcho"] is True
    (behaviour,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/v1/*"]
    (association,) = behaviour["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    code = stack["Resources"]["ClientAddressFunction"]["Properties"]["FunctionCode"]
    # Overwrites whatever the browser sent with the address CloudFront saw.
    assert 'request.headers["x-tpm-client-ip"] = { value: event.viewer.ip }' in code
    for name in ("PortalDomain", "CertificateArn"):
        assert "Default" not in stack["Parameters"][name], f"{name} must be given"


def test_the_chime_media_frame_has_its_own_headers_in_step_with_tpm_dev(stack: Template) -> None:
    # /visit-media/* alone may reach Chime's media endpoints and be framed by the site
    config = distribution(stack)
    [frame] = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/visit-media/*"]
    assert frame["ResponseHeadersPolicyId"] == {"Ref": "MediaFrameHeaders"}
    assert frame["TargetOriginId"] == "site"
    policy = headers_policy(stack, "MediaFrameHeaders")
    security = policy["SecurityHeadersConfig"]
    aws = directives(security["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    assert aws == directives(MEDIA_FRAME_HEADERS["Content-Security-Policy"])
    assert aws["connect-src"] == "'self' https://*.chime.aws wss://*.chime.aws"
    assert security["FrameOptions"]["FrameOption"] == MEDIA_FRAME_HEADERS["X-Frame-Options"]
    assert (
        security["StrictTransportSecurity"]
        == headers_policy(stack)["SecurityHeadersConfig"]["StrictTransportSecurity"]
    )
    # everything else is the portal's
    portal = directives(PORTAL_HEADERS["Content-Security-Policy"])
    changed = {k for k in aws if aws.get(k) != portal.get(k)}
    assert changed == {"connect-src", "worker-src", "frame-ancestors", "form-action"}
