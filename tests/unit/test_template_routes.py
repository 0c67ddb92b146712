from __future__ import annotations

from pathlib import Path

from tpm.local.gateway import LocalGateway
from tpm.local.template import api_routes, functions, load_template, path_pattern

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "echo_api"


def test_cfn_tags_become_long_form(project_root: Path) -> None:
    template = load_template(project_root / "template.yaml")
    sse = template["Resources"]["Table"]["Properties"]["SSESpecification"]
    assert sse["KMSMasterKeyId"] == {
        "Fn::If": ["CreatePhiKey", {"Fn::GetAtt": ["PhiKey", "Arn"]}, {"Ref": "PhiKeyArn"}]
    }


def test_routes_come_from_api_events_most_specific_first() -> None:
    routes = api_routes(load_template(FIXTURE / "template.yaml"))
    paths = [r.path for r in routes]
    assert paths.index("/v1/things") < paths.index("/{proxy+}")
    assert paths.index("/v1/things/{thingId}") < paths.index("/{proxy+}")
    assert paths[-1] == "/{proxy+}"


def test_schedules_are_read_with_state() -> None:
    specs = {f.logical_id: f for f in functions(load_template(FIXTURE / "template.yaml"))}
    schedules = {s.name: s for s in specs["TickFunction"].schedules}
    assert schedules["EveryMinute"].expression == "rate(1 minute)"
    assert schedules["EveryMinute"].enabled
    assert not schedules["Disabled"].enabled


def test_path_patterns() -> None:
    assert path_pattern("/v1/things/{thingId}").match("/v1/things/thg_1")["thingId"] == "thg_1"  # type: ignore[index]
    assert path_pattern("/v1/things/{thingId}").match("/v1/things/a/b") is None
    assert path_pattern("/{proxy+}").match("/v1/a/b/c")["proxy"] == "v1/a/b/c"  # type: ignore[index]


def test_gateway_prefers_literal_route_and_exact_method() -> None:
    gateway = LocalGateway(FIXTURE)
    matched = gateway.match("POST", "/v1/things")
    assert matched is not None
    assert matched[0].path == "/v1/things"
    fallback = gateway.match("DELETE", "/v1/things")
    assert fallback is not None
    assert fallback[0].path == "/{proxy+}"
    params = gateway.match("GET", "/v1/things/thg_9")
    assert params is not None
    assert params[1] == {"thingId": "thg_9"}


def test_every_product_function_loads(project_root: Path) -> None:
    gateway = LocalGateway(project_root)
    gateway.load_all()
    assert set(gateway.functions) >= {"PlatformFunction"}


def test_one_function_serves_one_request_at_a_time() -> None:
    # Like one Lambda instance: concurrent requests to a function queue, never interleave.
    import threading
    import time

    gateway = LocalGateway(FIXTURE)
    inside, overlaps = [0], [0]
    guard = threading.Lock()

    def slow(event: dict[str, object], context: object) -> dict[str, object]:
        with guard:
            inside[0] += 1
            overlaps[0] = max(overlaps[0], inside[0])
        time.sleep(0.01)
        with guard:
            inside[0] -= 1
        return {"statusCode": 200, "body": ""}

    gateway._handlers["EchoFunction"] = slow
    threads = [
        threading.Thread(target=lambda: gateway.locked_handler("EchoFunction")({}, None))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps[0] == 1
