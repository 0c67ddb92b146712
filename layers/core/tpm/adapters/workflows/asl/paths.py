"""The JSONPath subset the Amazon States Language uses, and its data-flow fields.

Paths: `$` (the state's input) or `$$` (the context object), then any of `.name`,
`['name']`, `[n]` (negative counts from the end), `[*]` / `.*`, `[a:b]` slices,
`[n,m]` unions and `..name` (recursive descent). Filter expressions (`[?(...)]`) are
refused by the validator. A *definite* path (no wildcard, slice, union or descent)
selects one value; any other selects the list of what it matches, as Step Functions does.
A *reference path* (ResultPath, Choice variables) is definite and names fields only.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from tpm.adapters.workflows.asl.errors import PARAMETER_PATH, RESULT_PATH, RUNTIME, StatesError

_NAME = re.compile(r"[A-Za-z_$@][\w$@-]*")


@dataclass(frozen=True)
class Segment:
    kind: str  # "field" | "index" | "wild" | "slice" | "union" | "descend"
    value: Any = None


@dataclass(frozen=True)
class Path:
    root: str  # "$" or "$$"
    segments: tuple[Segment, ...]

    @property
    def definite(self) -> bool:
        return all(s.kind in ("field", "index") for s in self.segments)

    @property
    def reference(self) -> bool:
        return all(s.kind == "field" for s in self.segments)


class PathSyntaxError(ValueError):
    pass


_cache: dict[str, Path] = {}


def parse(text: str) -> Path:
    cached = _cache.get(text)
    if cached is not None:
        return cached
    path = _parse(text)
    if len(_cache) < 4096:
        _cache[text] = path
    return path


def _parse(text: str) -> Path:
    if text.startswith("$$"):
        root, i = "$$", 2
    elif text.startswith("$"):
        root, i = "$", 1
    else:
        raise PathSyntaxError("a path starts with $ or $$")
    segments: list[Segment] = []
    n = len(text)
    while i < n:
        ch = text[i]
        if text.startswith("..", i):
            m = _NAME.match(text, i + 2)
            if not m:
                raise PathSyntaxError("'..' needs a field name")
            segments.append(Segment("descend", m.group()))
            i = m.end()
        elif ch == ".":
            if text.startswith(".*", i):
                segments.append(Segment("wild"))
                i += 2
                continue
            m = _NAME.match(text, i + 1)
            if not m:
                raise PathSyntaxError("'.' needs a field name")
            segments.append(Segment("field", m.group()))
            i = m.end()
        elif ch == "[":
            end, segment = _bracket(text, i)
            segments.append(segment)
            i = end
        else:
            raise PathSyntaxError(f"unexpected {ch!r}")
    return Path(root, tuple(segments))


def _bracket(text: str, start: int) -> tuple[int, Segment]:
    i = start + 1
    if i < len(text) and text[i] in "'\"":
        quote = text[i]
        j = i + 1
        out = []
        while j < len(text) and text[j] != quote:
            if text[j] == "\\" and j + 1 < len(text):
                j += 1
            out.append(text[j])
            j += 1
        if j + 1 >= len(text) or text[j + 1] != "]":
            raise PathSyntaxError("unterminated ['name']")
        return j + 2, Segment("field", "".join(out))
    close = text.find("]", i)
    if close < 0:
        raise PathSyntaxError("unterminated [")
    body = text[i:close].strip()
    if body == "*":
        return close + 1, Segment("wild")
    if body.startswith("?"):
        raise PathSyntaxError("filter expressions are not supported")
    try:
        if ":" in body:
            parts = [p.strip() for p in body.split(":")]
            if len(parts) > 3:
                raise PathSyntaxError("bad slice")
            bounds = tuple(int(p) if p else None for p in parts)
            return close + 1, Segment("slice", bounds)
        if "," in body:
            return close + 1, Segment("union", tuple(int(p) for p in body.split(",")))
        return close + 1, Segment("index", int(body))
    except ValueError as exc:
        raise PathSyntaxError("bad index") from exc


_MISSING = object()


def _step(values: list[Any], segment: Segment) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if segment.kind == "field":
            if isinstance(value, dict) and segment.value in value:
                out.append(value[segment.value])
        elif segment.kind == "index":
            if isinstance(value, list) and -len(value) <= segment.value < len(value):
                out.append(value[segment.value])
        elif segment.kind == "wild":
            if isinstance(value, dict):
                out.extend(value.values())
            elif isinstance(value, list):
                out.extend(value)
        elif segment.kind == "slice":
            if isinstance(value, list):
                start, stop, *step = segment.value
                out.extend(value[slice(start, stop, step[0] if step else None)])
        elif segment.kind == "union":
            if isinstance(value, list):
                out.extend(value[k] for k in segment.value if -len(value) <= k < len(value))
        elif segment.kind == "descend":
            out.extend(_descend(value, segment.value))
    return out


def _descend(value: Any, name: str) -> list[Any]:
    found: list[Any] = []
    if isinstance(value, dict):
        if name in value:
            found.append(value[name])
        for child in value.values():
            found.extend(_descend(child, name))
    elif isinstance(value, list):
        for child in value:
            found.extend(_descend(child, name))
    return found


def select(text: str, data: Any, context: Any, *, error: str = RUNTIME) -> Any:
    """The value(s) a path names; a definite path that matches nothing raises `error`."""
    try:
        path = parse(text)
    except PathSyntaxError as exc:
        raise StatesError(error, "Invalid path.") from exc
    values = [context if path.root == "$$" else data]
    for segment in path.segments:
        values = _step(values, segment)
    if path.definite:
        if not values:
            raise StatesError(error, "The path does not match any element of the input.")
        return values[0]
    return values


def present(text: str, data: Any, context: Any) -> bool:
    try:
        select(text, data, context)
    except StatesError:
        return False
    return True


def put(data: Any, text: str, value: Any) -> Any:
    """ResultPath: `value` placed into (a copy of) `data` at a reference path."""
    path = parse(text)
    if path.root != "$" or not path.reference:
        raise StatesError(RESULT_PATH, "ResultPath must be a reference path.")
    if not path.segments:
        return value
    if not isinstance(data, dict):
        raise StatesError(RESULT_PATH, "ResultPath cannot be applied to a non-object input.")
    out = copy.deepcopy(data)
    node = out
    for segment in path.segments[:-1]:
        child = node.get(segment.value, _MISSING)
        if child is _MISSING:
            child = node[segment.value] = {}
        if not isinstance(child, dict):
            raise StatesError(RESULT_PATH, "ResultPath runs through a non-object field.")
        node = child
    node[path.segments[-1].value] = value
    return out


# ---- payload templates (Parameters, ResultSelector, ItemSelector) -------------------------


def render(template: Any, data: Any, context: Any) -> Any:
    """A payload template: keys ending in `.$` take a path or intrinsic function."""
    from tpm.adapters.workflows.asl.intrinsics import evaluate, is_intrinsic

    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str):
                    raise StatesError(PARAMETER_PATH, "A '.$' field needs a path string.")
                if is_intrinsic(value):
                    out[key[:-2]] = evaluate(value, data, context)
                else:
                    out[key[:-2]] = select(value, data, context, error=PARAMETER_PATH)
            else:
                out[key] = render(value, data, context)
        return out
    if isinstance(template, list):
        return [render(v, data, context) for v in template]
    return template
