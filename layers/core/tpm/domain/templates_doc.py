"""The template library as Markdown, for docs/clinical-templates.md.

The doc holds the rendered tables between two markers; tests/unit/test_template_library.py
re-renders them and fails when the doc is stale. After adding or changing a template:

    python -m tpm.domain.templates_doc --write docs/clinical-templates.md
    python -m tpm.domain.templates_doc --check docs/clinical-templates.md
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from tpm import generated_docs
from tpm.domain.templates import Category, TemplateLibrary, builtin_library

BEGIN: Final = "<!-- templates:begin -->"
END: Final = "<!-- templates:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_library_markdown(library: TemplateLibrary | None = None) -> str:
    """One table of every current template by category, then one section per scored
    instrument with its bands, flags, source and exact licence statement."""
    library = library or builtin_library()
    lines = [
        "<!-- generated from layers/core/tpm/templates/ by"
        " `python -m tpm.domain.templates_doc --write docs/clinical-templates.md`;"
        " do not edit by hand -->",
        "",
        f"{len(library.current())} templates.",
        "",
        "| id | v | title | category | CPT | required at signing |",
        "|---|---|---|---|---|---|",
    ]
    for category in Category:
        for t in library.by_category(category):
            cpt = ", ".join(t.cpt_codes) or "—"
            lines.append(
                f"| `{t.id}` | {t.version} | {_cell(t.title)} | {category.value} | {cpt} "
                f"| {len(t.required_at_signing)} |"
            )
    lines += ["", "### Instruments", ""]
    for t in library.measures():
        assert t.scoring is not None  # measures() only returns scored templates
        bands = "; ".join(f"{b.min}-{b.max} {b.label}" for b in t.scoring.bands)
        included = "yes" if t.item_text_included else "no (ids and labels only)"
        flags = "; ".join(f"{f.item} {f.op} {f.value} → `{f.flag}`" for f in t.scoring.flags)
        lines += [
            f"#### {t.title} (`{t.id}` v{t.version})",
            "",
            f"- Items: {len(t.scoring.items)}, each {t.scoring.item_min}-{t.scoring.item_max}; "
            f"total {t.scoring.min_total}-{t.scoring.max_total} ({t.scoring.rule}).",
            f"- Bands: {bands}.",
            f"- Flags: {flags or 'none'}.",
            f"- Item text included: {included}.",
            f"- Source: {t.source}",
            f"- Licence: {t.licence} <{t.licence_url}>"
            if t.licence_url
            else f"- Licence: {t.licence}",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def replace_generated(document: str, rendered: str) -> str:
    """`document` with the text between this doc's markers replaced by `rendered`."""
    return generated_docs.replace_generated(document, rendered, BEGIN, END)


def main(argv: Sequence[str] | None = None) -> int:
    return generated_docs.run(
        argv,
        prog="python -m tpm.domain.templates_doc",
        description="Render the clinical template library as the doc's tables.",
        render=render_library_markdown,
        begin=BEGIN,
        end=END,
    )


if __name__ == "__main__":
    raise SystemExit(main())
