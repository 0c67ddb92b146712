"""The HTTP contract every route shares: one error shape, the right 4xx, no leaks."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tpm.local.gateway import HttpRequest, HttpResponse, LocalGateway

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "echo_api"
PHI_NAME = "Zebulon Quixotic-Farnsworth"
PHI_DOB = "1961-02-29"


@pytest.fixture(scope="module")
def echo() -> LocalGateway:
    return LocalGateway(FIXTURE)


@pytest.fixture(scope="module")
def product(project_root: Path) -> LocalGateway:
    return LocalGateway(project_root)


def call(
    gw: LocalGateway,
    method: str,
    path: str,
    body: bytes | str | dict[str, object] | None = None,
    content_type: str = "application/json",
) -> HttpResponse:
    if isinstance(body, dict):
        body = json.dumps(body)
    raw = body.encode() if isinstance(body, str) else (body or b"")
    headers = [("content-type", content_type)] if raw else []
    return gw.dispatch(HttpRequest(method, path, headers, [], raw))


def error_of(response: HttpResponse) -> dict[str, object]:
    payload = json.loads(response.body)
    assert set(payload) == {"error", "request_id"}
    assert set(payload["error"]) == {"code", "message", "details"}
    assert payload["request_id"]
    return payload["error"]  # type: ignore[no-any-return]


def header(response: HttpResponse, name: str) -> str | None:
    return next((v for k, v in response.headers if k.lower() == name.lower()), None)


def all_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """Every log record with all its extra fields, plus anything printed."""
    out = capsys.readouterr()
    records = [json.dumps(vars(r), default=str) for r in caplog.records]
    return "\n".join([out.out, out.err, *records])


def test_valid_request_succeeds(echo: LocalGateway) -> None:
    response = call(echo, "POST", "/v1/things", {"name": "abc", "count": 2})
    assert response.status == 200
    assert json.loads(response.body) == {"name_length": 3, "count": 2}
    assert header(response, "Cache-Control") == "no-store"


def test_validation_error_is_422_with_field_paths_and_no_values(echo: LocalGateway) -> None:
    response = call(echo, "POST", "/v1/things", {"name": PHI_NAME * 3, "count": -1})
    assert response.status == 422
    err = error_of(response)
    assert err["code"] == "validation_failed"
    paths = {f["path"] for f in err["details"]["fields"]}  # type: ignore[index]
    assert paths == {"body.name", "body.count"}
    assert PHI_NAME not in response.body.decode()


def test_missing_field_is_422(echo: LocalGateway) -> None:
    response = call(echo, "POST", "/v1/things", {"count": 1})
    assert response.status == 422
    fields = error_of(response)["details"]["fields"]  # type: ignore[index]
    assert fields[0]["path"] == "body.name"
    assert fields[0]["type"] == "missing"


def test_malformed_json_is_400(echo: LocalGateway) -> None:
    response = call(echo, "POST", "/v1/things", '{"name": "x", ')
    assert response.status == 400
    assert error_of(response)["code"] == "malformed_json"


def test_wrong_content_type_is_415(echo: LocalGateway) -> None:
    response = call(echo, "POST", "/v1/things", "name=x", content_type="text/plain")
    assert response.status == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_oversized_body_is_413(echo: LocalGateway) -> None:
    big = json.dumps({"name": "x", "count": 1, "date_of_birth": "a" * 1_100_000})
    response = call(echo, "POST", "/v1/things", big)
    assert response.status == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_body_beyond_api_gateway_limit_is_413_at_the_gateway(echo: LocalGateway) -> None:
    response = call(echo, "POST", "/v1/things", b"x" * (10 * 1024 * 1024 + 1))
    assert response.status == 413


def test_domain_conflict_maps_to_409_with_details(echo: LocalGateway) -> None:
    response = call(echo, "POST", "/v1/things", {"name": "x", "count": 409})
    assert response.status == 409
    err = error_of(response)
    assert err["code"] == "version_conflict"
    assert err["details"] == {"current_version": 7}


def test_not_found_from_a_route(echo: LocalGateway) -> None:
    response = call(echo, "GET", "/v1/things/thg_01")
    assert response.status == 404
    assert error_of(response)["code"] == "not_found"


def test_unexpected_error_is_500_without_internals_or_phi(
    echo: LocalGateway, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = call(echo, "POST", "/v1/boom", {"name": PHI_NAME, "count": 1})
    assert response.status == 500
    err = error_of(response)
    assert err["code"] == "internal_error"
    body = response.body.decode()
    assert PHI_NAME not in body
    assert "RuntimeError" not in body
    assert "Traceback" not in body
    everything = all_logs(caplog, capsys)
    assert '"error_type": "RuntimeError"' in everything  # the fault is logged by type...
    assert PHI_NAME not in everything  # ...but never with its message


def test_phi_never_reaches_logs_on_any_path(
    echo: LocalGateway, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    payloads: list[tuple[str, str, object]] = [
        ("POST", "/v1/things", {"name": PHI_NAME, "count": 1, "date_of_birth": PHI_DOB}),
        ("POST", "/v1/things", {"name": PHI_NAME * 5, "count": -5, "date_of_birth": PHI_DOB}),
        ("POST", "/v1/things", f'{{"name": "{PHI_NAME}", '),
        ("POST", "/v1/boom", {"name": PHI_NAME, "count": 1, "date_of_birth": PHI_DOB}),
        ("GET", f"/v1/nothing-here?q={PHI_NAME}", None),
    ]
    with caplog.at_level(logging.DEBUG):
        for method, path, body in payloads:
            response = call(echo, method, path.split("?")[0], body)  # type: ignore[arg-type]
            assert PHI_NAME not in response.body.decode()
            assert PHI_DOB not in response.body.decode()
    everything = all_logs(caplog, capsys)
    assert '"resource": "/v1/things"' in everything  # the requests were logged...
    assert PHI_NAME not in everything  # ...without their content
    assert PHI_DOB not in everything


def test_product_health_and_security_headers(product: LocalGateway) -> None:
    response = call(product, "GET", "/v1/health")
    assert response.status == 200
    assert json.loads(response.body)["status"] == "ok"
    assert header(response, "X-Content-Type-Options") == "nosniff"
    assert header(response, "Strict-Transport-Security")


def test_product_unknown_route_is_404(product: LocalGateway) -> None:
    response = call(product, "GET", "/v1/no/such/thing")
    assert response.status == 404
    assert error_of(response)["code"] == "not_found"


def test_product_wrong_method_is_405_with_allow(product: LocalGateway) -> None:
    response = call(product, "DELETE", "/v1/health")
    assert response.status == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert header(response, "Allow") == "GET"


def test_product_openapi_served(product: LocalGateway, project_root: Path) -> None:
    response = call(product, "GET", "/v1/openapi.json")
    assert response.status == 200
    served = json.loads(response.body)
    committed = json.loads((project_root / "schemas" / "openapi.json").read_text())
    assert served == committed
    assert "/v1/health" in served["paths"]


def test_a_failed_log_write_never_prints_the_exception_being_handled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The standard library would print the handled exception's traceback (and its message,
    # which may quote PHI) when a handler cannot write; tpm.observability turns that off.
    import io

    import tpm.observability  # noqa: F401 - importing it applies the setting

    closed = io.StringIO()
    closed.close()
    broken = logging.getLogger("tpm-test-broken-handler")
    broken.propagate = False
    broken.addHandler(logging.StreamHandler(closed))
    try:
        raise RuntimeError(f"lookup failed for {PHI_NAME}")
    except RuntimeError:
        broken.error("request failed")
    assert PHI_NAME not in capsys.readouterr().err
