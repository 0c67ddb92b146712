"""The note editor's form is generated from each template's layout and JSON Schema: for all
48 templates, the form built from the template's valid example reads back exactly that
content (so what the editor saves is what the schema accepts), and every field required at
signing is marked in its label. Runs in the browser, on the app's own module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "layers" / "core" / "tpm" / "templates").glob("*/1.json"))
EXAMPLES = ROOT / "tests" / "fixtures" / "template_examples"

ROUND_TRIP = """async ([templates]) => {
  const { templateForm } = await import("/staff/js/screens/notes/form.js");
  const out = {};
  for (const [template, example] of templates) {
    const form = templateForm(template, example, {});
    document.body.append(form.node);
    const signing = (template.required_at_signing || []).map((p) => {
      const pattern = new RegExp("^content" + p.replaceAll("*", "\\d+") + "$");
      const boxes = [...form.node.querySelectorAll("[data-field]")].filter((b) => pattern.test(b.dataset.field));
      // a wildcard with no rows in the example has nothing to mark
      return (p.includes("*") && boxes.length === 0) || boxes.some((box) =>
        (box.querySelector("label, legend") || {}).textContent.includes("(required to sign)"));
    });
    out[template.id] = {
      back: form.read(),
      controls: form.node.querySelectorAll("input, select, textarea").length,
      unlabelled: [...form.node.querySelectorAll("input, select, textarea")].filter(
        (c) => !c.labels || c.labels.length === 0).length,
      signingMarked: signing.every(Boolean),
    };
    form.node.remove();
  }
  return out;
}"""


def test_every_template_renders_and_reads_back_its_example(page: Page) -> None:
    assert len(TEMPLATES) == 48
    pairs = []
    for path in TEMPLATES:
        template = json.loads(path.read_text("utf-8"))
        example = json.loads((EXAMPLES / f"{template['id']}.json").read_text("utf-8"))
        pairs.append([template, example])
    page.goto("/staff/")
    results = page.evaluate(ROUND_TRIP, [pairs])
    problems = {}
    for template, example in pairs:
        got = results[template["id"]]
        if got["back"] != example:
            keys = sorted(
                k for k in {**example, **got["back"]} if example.get(k) != got["back"].get(k)
            )
            problems[template["id"]] = (
                f"read back differs at {keys}: {[got['back'].get(k) for k in keys][:2]} vs {[example.get(k) for k in keys][:2]}"
            )
        elif got["controls"] == 0 or got["unlabelled"]:
            problems[template["id"]] = f"{got['unlabelled']} unlabelled controls"
        elif not got["signingMarked"]:
            problems[template["id"]] = "a field required at signing is not marked"
    assert problems == {}, json.dumps(problems, indent=1)
