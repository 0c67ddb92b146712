"""Read template.yaml: the single source of truth for routes and schedules.

CloudFormation short-form tags (!Ref, !Sub, !GetAtt, ...) become their long-form dicts so the
rest of the code (and tests) can walk the template as plain data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_TAGS = (
    "Ref",
    "Sub",
    "GetAtt",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Join",
    "Select",
    "Split",
    "FindInMap",
    "ImportValue",
    "Base64",
    "Cidr",
    "GetAZs",
    "Condition",
    "Transform",
)


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct(tag: str) -> Any:
    key = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"

    def build(loader: _CfnLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if tag == "GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {key: value}

    return build


for _tag in _TAGS:
    _CfnLoader.add_constructor(f"!{_tag}", _construct(_tag))


def load_template(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict) or "Resources" not in data:
        raise ValueError(f"{path} is not a CloudFormation/SAM template")
    return data


@dataclass(frozen=True)
class ApiRoute:
    function: str  # logical id, e.g. PlatformFunction
    method: str  # upper case, or ANY
    path: str  # API Gateway resource path, e.g. /v1/patients/{patientId}
    public: bool  # Auth: Authorizer: NONE

    @property
    def pattern(self) -> re.Pattern[str]:
        return path_pattern(self.path)

    @property
    def specificity(self) -> tuple[int, int, int]:
        """API Gateway picks the most specific resource: literal segments beat
        {params}, which beat {greedy+}."""
        segments = [s for s in self.path.split("/") if s]
        greedy = sum(s.endswith("+}") for s in segments)
        params = sum(s.startswith("{") for s in segments)
        return (greedy, params, -len(segments))


@dataclass(frozen=True)
class Schedule:
    function: str
    name: str
    expression: str  # rate(...) or cron(...)
    enabled: bool


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str  # module.attribute
    environment: dict[str, Any]
    routes: tuple[ApiRoute, ...]
    schedules: tuple[Schedule, ...]


def path_pattern(path: str) -> re.Pattern[str]:
    parts = []
    for segment in path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{_group(segment[1:-2])}>.+)")
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{_group(segment[1:-1])}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "$")


def _group(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"unsupported path parameter name {name!r}")
    return name


def functions(template: dict[str, Any]) -> list[FunctionSpec]:
    """Every AWS::Serverless::Function with its Api and Schedule events."""
    specs = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        routes, schedules = [], []
        for name, event in (props.get("Events") or {}).items():
            ev_props = event.get("Properties", {})
            if event["Type"] == "Api":
                auth = (ev_props.get("Auth") or {}).get("Authorizer")
                routes.append(
                    ApiRoute(
                        function=logical_id,
                        method=str(ev_props["Method"]).upper(),
                        path=ev_props["Path"],
                        public=auth == "NONE",
                    )
                )
            elif event["Type"] in ("Schedule", "ScheduleV2"):
                expression = ev_props.get("Schedule") or ev_props.get("ScheduleExpression")
                state = ev_props.get("State", "ENABLED")
                enabled = ev_props.get("Enabled", state == "ENABLED")
                schedules.append(Schedule(logical_id, name, str(expression), bool(enabled)))
        env = ((props.get("Environment") or {}).get("Variables")) or {}
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                code_uri=str(props["CodeUri"]),
                handler=str(props["Handler"]),
                environment=dict(env),
                routes=tuple(routes),
                schedules=tuple(schedules),
            )
        )
    return specs


def api_routes(template: dict[str, Any]) -> list[ApiRoute]:
    """All routes, most specific first (the order API Gateway matches in)."""
    routes = [r for spec in functions(template) for r in spec.routes]
    return sorted(routes, key=lambda r: r.specificity)
