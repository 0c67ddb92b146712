"""Validation for templates and the content written with them. Pure.

- `validate_content`: JSON Schema (2020-12) validation of note/form content, as field-level
  errors `{"path": "/goals/0/target_date", "type": "format"}` — never the submitted values
  (they are PHI), and no jsonschema messages (they quote the values).
- `missing_at_signing`: the `required_at_signing` paths that are absent or blank.
- `check_template_definition`: everything a practice-authored template must satisfy before
  it is saved: the metadata shape, the schema against the 2020-12 meta-schema, local
  `$ref`s only, layout and signing paths that exist, and a coherent scoring rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any, Final

from pydantic import ValidationError

from tpm.domain.template_models import FieldError, Scoring, Template

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
# Keywords that only say "something is missing": a draft may lack them until signing.
DRAFT_TOLERATED: Final = frozenset({"required", "minItems", "minProperties"})

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_DATE.match(value)) and date.fromisoformat(value) is not None


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_DATE_TIME.match(value)) and datetime.fromisoformat(value).tzinfo is not None


def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL.match(value))


@cache
def _engine() -> tuple[Any, Any, Any]:
    """jsonschema (validator class, our format checker, the meta-schema validator), imported
    on first validation: ~50 ms of import that read-only requests never need."""
    from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]

    # jsonschema checks date-time only with an optional package; these need nothing extra.
    formats = FormatChecker(formats=())
    formats.checks("date", raises=ValueError)(_is_date)
    formats.checks("date-time", raises=ValueError)(_is_date_time)
    formats.checks("email")(_is_email)
    meta = Draft202012Validator(
        Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return Draft202012Validator, formats, meta


def pointer(parts: Iterable[object]) -> str:
    """RFC 6901 pointer for a path of keys and indexes ("" is the whole document)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _content_validator(template: Template) -> Any:
    # Compiled once per template object and kept on it (templates are immutable).
    if template._compiled is None:
        validator, formats, _ = _engine()
        template._compiled = validator(template.content_schema, format_checker=formats)
    return template._compiled


def validate_content(
    template: Template, content: object, *, partial: bool = False
) -> list[FieldError]:
    """Field errors of `content` against the template's schema, sorted by path.

    partial=True is for autosaved drafts: fields may still be missing (required, minItems,
    minProperties are not enforced) but whatever is present must be well-formed."""
    errors = _content_validator(template).iter_errors(content)
    return _field_errors(errors, partial=partial)


def _field_errors(errors: Iterable[Any], *, partial: bool) -> list[FieldError]:
    found: dict[tuple[str, str], FieldError] = {}
    for error in errors:
        for item in _explain(error, partial=partial):
            found.setdefault((item.path, item.type), item)
    return sorted(found.values(), key=lambda e: (e.path, e.type))


def _explain(error: Any, *, partial: bool) -> Iterator[FieldError]:
    keyword = str(error.validator)
    at = list(error.absolute_path)
    if partial and keyword in DRAFT_TOLERATED:
        return
    if keyword == "required" and isinstance(error.instance, Mapping):
        for name in error.validator_value:
            if name not in error.instance:
                yield FieldError(path=pointer([*at, name]), type="required")
        return
    if keyword in ("additionalProperties", "unevaluatedProperties") and isinstance(
        error.instance, Mapping
    ):
        known = set(error.schema.get("properties", {}))
        for name in sorted(set(error.instance) - known):
            yield FieldError(path=pointer([*at, name]), type="unknown_field")
        return
    yield FieldError(path=pointer(at), type=keyword)


# --- signing -------------------------------------------------------------------------


def missing_at_signing(template: Template, content: object) -> list[str]:
    """The required-at-signing paths that are absent, null, blank or empty, as concrete
    pointers ("/goals/1/target_date"); an absent or empty array stands for its items."""
    missing: dict[str, None] = {}
    for path in template.required_at_signing:
        for found in _missing(content, _segments(path), []):
            missing.setdefault(found, None)
    return list(missing)


def _segments(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _missing(node: object, rest: Sequence[str], at: list[str]) -> Iterator[str]:
    if not rest:
        if not _filled(node):
            yield pointer(at)
        return
    head, tail = rest[0], rest[1:]
    if head == "*":
        if not isinstance(node, list) or not node:
            yield pointer(at)
            return
        for index, element in enumerate(node):
            yield from _missing(element, tail, [*at, str(index)])
        return
    if not isinstance(node, Mapping) or head not in node:
        # Report the deepest concrete path: stop at the first wildcard.
        wanted = [*at, head, *tail]
        cut = wanted.index("*") if "*" in wanted else len(wanted)
        yield pointer(wanted[:cut])
        return
    yield from _missing(node[head], tail, [*at, head])


def _filled(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict):
        return bool(value)
    return True


# --- template definitions ----------------------------------------------------------


def check_template_definition(raw: object) -> list[FieldError]:
    """Every problem with a template definition (a practice's own, a clone, or a library
    file), as field errors whose paths point into the definition. Empty means valid."""
    if not isinstance(raw, Mapping):
        return [FieldError(path="", type="type")]
    try:
        template = Template.model_validate(raw)
    except ValidationError as exc:
        return sorted(
            {
                FieldError(path=pointer(err["loc"]), type=str(err["type"]))
                for err in exc.errors(include_input=False, include_url=False)
            },
            key=lambda e: (e.path, e.type),
        )
    problems = _check_schema(template.content_schema)
    if not problems:
        problems += _check_paths(template)
        problems += _check_scoring(template)
    return sorted(set(problems), key=lambda e: (e.path, e.type))


def _check_schema(schema: dict[str, Any]) -> list[FieldError]:
    problems = [
        FieldError(path=pointer(["schema", *e.absolute_path]), type=str(e.validator))
        for e in _engine()[2].iter_errors(schema)
    ]
    if schema.get("$schema", DIALECT) != DIALECT:
        problems.append(FieldError(path="/schema/$schema", type="unsupported_dialect"))
    if schema.get("type") != "object":
        problems.append(FieldError(path="/schema/type", type="must_be_object"))
    problems += [
        FieldError(path=pointer(["schema", *where, key]), type="remote_ref")
        for where, key, target in _refs(schema, [])
        if not (isinstance(target, str) and target.startswith("#"))
    ]
    return problems


def _refs(node: object, at: list[object]) -> Iterator[tuple[list[object], str, object]]:
    # Only local references: a remote $ref would make validation fetch or fail at runtime.
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef"):
                yield at, key, value
            else:
                yield from _refs(value, [*at, key])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _refs(value, [*at, index])


def schema_at(schema: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    """The subschema a content pointer lands on ("*" = array items), or None if the
    schema has no such field. Follows local "#/..." references."""
    node: Mapping[str, Any] | None = _deref(schema, schema)
    for part in _segments(path):
        if node is None:
            return None
        if part == "*":
            items = node.get("items")
            node = _deref(schema, items) if isinstance(items, Mapping) else None
        else:
            props = node.get("properties", {})
            child = props.get(part) if isinstance(props, Mapping) else None
            node = _deref(schema, child) if isinstance(child, Mapping) else None
    return node


def _deref(root: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    seen = 0
    while isinstance(node.get("$ref"), str) and seen < 16:
        target: Any = root
        for part in _segments(str(node["$ref"])[1:]):
            target = target.get(part) if isinstance(target, Mapping) else None
        if not isinstance(target, Mapping):
            return None
        node, seen = target, seen + 1
    return node


def _check_paths(template: Template) -> list[FieldError]:
    schema = template.content_schema
    problems = [
        FieldError(path=f"/required_at_signing/{i}", type="unknown_field")
        for i, path in enumerate(template.required_at_signing)
        if schema_at(schema, path) is None
    ]
    placed: set[str] = set()
    for i, section in enumerate(template.layout):
        for j, path in enumerate(section.fields):
            where = f"/layout/{i}/fields/{j}"
            if schema_at(schema, path) is None:
                problems.append(FieldError(path=where, type="unknown_field"))
            elif path in placed:
                problems.append(FieldError(path=where, type="duplicate"))
            placed.add(path)
    # Every top-level field must have a place on the rendered page.
    problems += [
        FieldError(path=pointer(["schema", "properties", name]), type="not_in_layout")
        for name in schema.get("properties", {})
        if pointer([name]) not in placed
    ]
    return problems


def _check_scoring(template: Template) -> list[FieldError]:
    scoring = template.scoring
    if scoring is None:
        return []
    problems = [
        FieldError(path=f"/{name}", type="required")
        for name in ("source", "licence", "item_text_included")
        if getattr(template, name) is None
    ]
    answers = schema_at(template.content_schema, "/answers")
    required = set(answers.get("required", [])) if answers else set()
    for i, item in enumerate(scoring.items):
        sub = schema_at(template.content_schema, pointer(["answers", item]))
        if sub is None or item not in required:
            problems.append(FieldError(path=f"/scoring/items/{i}", type="unknown_field"))
        elif (sub.get("type"), sub.get("minimum"), sub.get("maximum")) != (
            "integer",
            scoring.item_min,
            scoring.item_max,
        ):
            problems.append(FieldError(path=f"/scoring/items/{i}", type="range_mismatch"))
    items = set(scoring.items)
    problems += [
        FieldError(path=f"/scoring/reverse_items/{i}", type="unknown_field")
        for i, item in enumerate(scoring.reverse_items)
        if item not in items
    ]
    problems += [
        FieldError(path=f"/scoring/flags/{i}/item", type="unknown_field")
        for i, flag in enumerate(scoring.flags)
        if flag.item not in items
    ]
    problems += [
        FieldError(path=pointer(["scoring", "item_options", item]), type="unknown_field")
        for item in scoring.item_options
        if item not in items
    ]
    problems += _check_options(scoring)
    problems += _check_bands(scoring)
    return problems


def _check_options(scoring: Scoring) -> list[FieldError]:
    lists = {"/scoring/options": scoring.options} | {
        pointer(["scoring", "item_options", k]): v for k, v in scoring.item_options.items()
    }
    return [
        FieldError(path=f"{where}/{i}", type="out_of_range")
        for where, options in lists.items()
        for i, option in enumerate(options)
        if not scoring.item_min <= option.value <= scoring.item_max
    ]


def _check_bands(scoring: Scoring) -> list[FieldError]:
    """Bands must tile the possible totals exactly: sorted, no gaps, no overlaps."""
    expected = scoring.min_total
    for i, band in enumerate(scoring.bands):
        if band.min != expected or band.max < band.min:
            return [FieldError(path=f"/scoring/bands/{i}", type="bands_must_tile_range")]
        expected = band.max + 1
    if expected != scoring.max_total + 1:
        return [FieldError(path="/scoring/bands", type="bands_must_tile_range")]
    return []
