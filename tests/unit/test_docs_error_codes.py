"""docs/api-errors.md lists every error `code` the API can send, with the status it is sent
with: every TpmError subclass anywhere under tpm, the codes API Gateway answers with
itself (template.yaml GatewayResponses) and the local gateway's, and the `type` values
services put in validation details. A new code without a row fails here, and so does a
row for a code that no longer exists."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import tpm
from tpm import errors
from tpm.api.errors import from_exception, internal_error
from tpm.local.template import load_template
from tpm.security import passwords

DOC = "docs/api-errors.md"
CODES = ("<!-- error-codes:begin -->", "<!-- error-codes:end -->")
INTERNAL = ("<!-- internal-codes:begin -->", "<!-- internal-codes:end -->")
FIELD_TYPES = ("<!-- field-types:begin -->", "<!-- field-types:end -->")


def error_classes() -> dict[str, list[type[errors.TpmError]]]:
    """code -> classes, for TpmError and every subclass in every module under tpm (a
    subclass that does not set its own code shares its parent's)."""
    for module in pkgutil.walk_packages(tpm.__path__, "tpm."):
        importlib.import_module(module.name)
    found: dict[str, list[type[errors.TpmError]]] = {}
    pending: list[type[errors.TpmError]] = [errors.TpmError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, []).append(cls)
        pending.extend(cls.__subclasses__())
    return found


def codes_in_functions(root: Path) -> set[str]:
    """Error classes a handler module might define for itself (`code = "..."`)."""
    found = set()
    for path in (root / "functions").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.Assign)
                    and [getattr(t, "id", None) for t in stmt.targets] == ["code"]
                    and isinstance(stmt.value, ast.Constant)
                    and isinstance(stmt.value.value, str)
                ):
                    found.add(stmt.value.value)
    return found


def table(text: str, markers: tuple[str, str]) -> dict[str, list[str]]:
    """First-column code -> the row's cells, for the table between `markers`."""
    begin, end = markers
    assert text.count(begin) == 1, f"{begin} missing or repeated"
    assert text.count(end) == 1, f"{end} missing or repeated"
    rows: dict[str, list[str]] = {}
    for line in text.split(begin, 1)[1].split(end, 1)[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z0-9_]+)`", cells[0])
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} listed twice"
            rows[match.group(1)] = cells
    return rows


def gateway_responses(root: Path) -> dict[str, dict[str, Any]]:
    template = load_template(root / "template.yaml")
    apis = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Api"
    ]
    return {name: resp for api in apis for name, resp in api["GatewayResponses"].items()}


def gateway_codes(root: Path) -> dict[str, set[int | None]]:
    """code -> statuses API Gateway (template) and the local gateway answer with itself.
    None: the status is whatever API Gateway chose (DEFAULT_4XX / DEFAULT_5XX)."""
    found: dict[str, set[int | None]] = {}
    for response in gateway_responses(root).values():
        body = json.loads(response["ResponseTemplates"]["application/json"])
        status = response.get("StatusCode")
        found.setdefault(body["error"]["code"], set()).add(int(status) if status else None)
    local = (root / "layers/core/tpm/local/gateway.py").read_text(encoding="utf-8")
    for status, code in re.findall(r'_gateway_error\(\s*(\d{3}),\s*"([a-z_]+)"', local):
        found.setdefault(code, set()).add(int(status))
    return found


@pytest.fixture(scope="module")
def doc(project_root: Path) -> str:
    return (project_root / DOC).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def classes() -> dict[str, list[type[errors.TpmError]]]:
    return error_classes()


def sent(cls: type[errors.TpmError]) -> tuple[int, str]:
    """What the one HTTP mapping sends for this error: (status, body code)."""
    try:
        exc = cls()
    except TypeError:  # required constructor arguments: the mapping needs only the type
        exc = cls.__new__(cls)
        errors.TpmError.__init__(exc)
    response = from_exception(exc, "req-1")
    return response.status_code, json.loads(str(response.body))["error"]["code"]


def test_codes_defined_outside_tpm_errors_are_found(
    classes: dict[str, list[type[errors.TpmError]]],
) -> None:
    # The import walk must reach services and adapters, or the next test proves nothing.
    assert {"session_expired", "invalid_credentials", "condition_failed", "key_file_insecure"} <= (
        set(classes)
    )


def test_every_error_code_in_the_code_is_documented(
    doc: str, classes: dict[str, list[type[errors.TpmError]]], project_root: Path
) -> None:
    documented = set(table(doc, CODES)) | set(table(doc, INTERNAL))
    in_code = set(classes) | codes_in_functions(project_root)
    assert sorted(in_code - documented) == [], f"add these codes to {DOC}"


def test_each_documented_status_is_the_one_sent(
    doc: str, classes: dict[str, list[type[errors.TpmError]]]
) -> None:
    public = table(doc, CODES)
    for code, kinds in classes.items():
        for cls in kinds:
            status, body_code = sent(cls)
            if code in public:
                assert (int(public[code][1]), body_code) == (status, code), cls
            else:
                # Listed as internal: the caller must really see only internal_error.
                assert (status, body_code) == (500, "internal_error"), cls


def test_internal_codes_are_never_sent(
    doc: str, classes: dict[str, list[type[errors.TpmError]]]
) -> None:
    for code in table(doc, INTERNAL):
        assert code in classes, f"{code} is not an error code in tpm"
        for cls in classes[code]:
            assert sent(cls) == (500, "internal_error"), cls


def test_the_doc_lists_no_code_that_does_not_exist(
    doc: str, classes: dict[str, list[type[errors.TpmError]]], project_root: Path
) -> None:
    known = set(classes) | set(gateway_codes(project_root)) | codes_in_functions(project_root)
    assert sorted(set(table(doc, CODES)) - known) == []


def test_gateway_codes_are_documented_with_their_status(doc: str, project_root: Path) -> None:
    public = table(doc, CODES)
    for code, statuses in gateway_codes(project_root).items():
        assert code in public, f"the gateway answers {code}; document it"
        for status in statuses - {None}:
            assert int(public[code][1]) == status, (code, status)


def test_an_unexpected_failure_is_documented_as_internal_error(doc: str) -> None:
    response = internal_error("req-1")
    code = json.loads(str(response.body))["error"]["code"]
    assert int(table(doc, CODES)[code][1]) == response.status_code == 500


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def field_types_in(tree: ast.AST) -> set[str]:
    """`type` codes a module puts into validation details: `{"path": ..., "type": "x"}`
    dicts, `ContentProblem(path, "x", ...)`, and domain rule errors (`RoleRuleError("x")`,
    `PatientRuleError([(path, "x")])`)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = [_str(k) for k in node.keys]
            if "path" in keys and "type" in keys:
                found.add(_str(node.values[keys.index("type")]) or "")
        elif isinstance(node, ast.Call) and _call_name(node) == "ContentProblem":
            found.add((_str(node.args[1]) if len(node.args) > 1 else None) or "")
        elif isinstance(node, ast.Call) and _call_name(node).endswith("RuleError"):
            for arg in node.args:
                pairs = arg.elts if isinstance(arg, ast.List) else []
                pairs += [arg.elt] if isinstance(arg, ast.ListComp) else []
                found |= {_str(p.elts[1]) or "" for p in pairs if isinstance(p, ast.Tuple)}
                found.add(_str(arg) or "")
    return found - {""}


def service_field_types(root: Path) -> set[str]:
    """Every field `type` set by tpm's own code, plus the password policy's violation codes
    (module constants whose value is their own lower-case name)."""
    found: set[str] = set()
    for base in (root / "layers/core/tpm", root / "functions"):
        for path in base.rglob("*.py"):
            found |= field_types_in(ast.parse(path.read_text(encoding="utf-8")))
    violations = {
        value
        for name, value in vars(passwords).items()
        if name.isupper() and isinstance(value, str) and value == name.lower()
    }
    assert violations, "the password policy's violation codes were not found"
    return found | violations


def test_field_type_scan_sees_every_way_services_set_a_type() -> None:
    source = (
        'ValidationFailed(fields=[{"path": "body.a", "type": "literal_dict"}])\n'
        'ValidationFailed(fields=[{\n    "path": "body.b",\n    "type": "split_dict"}])\n'
        'problems.append(ContentProblem(path, "content_problem", "text"))\n'
        'raise RoleRuleError("rule_code")\n'
        'raise PatientRuleError([("email", "tuple_code")])\n'
        'raise PatientRuleError([(p, "comprehension_code") for p in refused])\n'
        'x = {"path": "p", "type": variable}\n'
        '{"kind": "not_a_field", "type": "ignored"}\n'
    )
    assert field_types_in(ast.parse(source)) == {
        "literal_dict",
        "split_dict",
        "content_problem",
        "rule_code",
        "tuple_code",
        "comprehension_code",
    }


def test_service_field_types_are_documented_exactly(doc: str, project_root: Path) -> None:
    assert set(table(doc, FIELD_TYPES)) == service_field_types(project_root)
