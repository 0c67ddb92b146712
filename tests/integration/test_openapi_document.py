"""schemas/openapi.json is generated from the resolvers; a stale copy fails here."""

from __future__ import annotations

from pathlib import Path

from tpm.local.openapi import build_document, render
from tpm.local.template import api_routes, load_template


def test_committed_openapi_is_current(project_root: Path) -> None:
    committed = (project_root / "schemas" / "openapi.json").read_text(encoding="utf-8")
    assert committed == render(build_document(project_root)), "run: tpm openapi --write"


def test_every_template_route_is_documented_with_summary_and_tags(project_root: Path) -> None:
    doc = build_document(project_root)
    for route in api_routes(load_template(project_root / "template.yaml")):
        if route.path == "/{proxy+}":
            continue
        operation = doc["paths"][route.path][route.method.lower()]
        assert operation.get("summary"), route
        assert operation.get("tags"), route
        if route.public:
            assert operation.get("security") == [], f"{route.path} must say it is public"
