"""The intrinsic functions of the States Language (`States.Format('{}', $.a)` ...).

Every function Step Functions defines is here. Arguments are string literals in single
quotes (`\\'`, `\\{`, `\\}` and `\\\\` escape), numbers, `true`/`false`/`null`, paths and
nested calls. Failures raise States.IntrinsicFailure, as Step Functions does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tpm.adapters.workflows.asl.errors import INTRINSIC, StatesError
from tpm.adapters.workflows.asl.paths import PathSyntaxError, parse, select


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]  # Literal | PathArg | Call


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class PathArg:
    text: str


class IntrinsicSyntaxError(ValueError):
    pass


def is_intrinsic(text: str) -> bool:
    return text.startswith("States.")


def parse_call(text: str) -> Call:
    call, end = _call(text.strip(), 0)
    if end != len(text.strip()):
        raise IntrinsicSyntaxError("trailing text after the call")
    return call


def _call(text: str, i: int) -> tuple[Call, int]:
    open_at = text.find("(", i)
    if open_at < 0:
        raise IntrinsicSyntaxError("missing '('")
    name = text[i:open_at].strip()
    if name not in FUNCTIONS:
        raise IntrinsicSyntaxError(f"unknown intrinsic function {name}")
    args: list[Any] = []
    j = _skip(text, open_at + 1)
    if j < len(text) and text[j] == ")":
        return Call(name, ()), j + 1
    while True:
        arg, j = _arg(text, _skip(text, j))
        args.append(arg)
        j = _skip(text, j)
        if j >= len(text):
            raise IntrinsicSyntaxError("missing ')'")
        if text[j] == ")":
            return Call(name, tuple(args)), j + 1
        if text[j] != ",":
            raise IntrinsicSyntaxError("expected ',' or ')'")
        j += 1


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] == " ":
        i += 1
    return i


def _arg(text: str, i: int) -> tuple[Any, int]:
    if i >= len(text):
        raise IntrinsicSyntaxError("missing argument")
    if text[i] == "'":
        out, j = [], i + 1
        while j < len(text) and text[j] != "'":
            if text[j] == "\\" and j + 1 < len(text):
                nxt = text[j + 1]
                # \{ and \} stay escaped for States.Format; others drop the backslash.
                out.append("\\" + nxt if nxt in "{}" else nxt)
                j += 2
                continue
            out.append(text[j])
            j += 1
        if j >= len(text):
            raise IntrinsicSyntaxError("unterminated string")
        return Literal("".join(out)), j + 1
    if text.startswith("States.", i):
        return _call(text, i)
    if text[i] == "$":
        j, depth, quote = i, 0, ""
        while j < len(text):
            ch = text[j]
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "'\"" and depth:
                quote = ch
            elif ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
            elif depth == 0 and ch in ",)":
                break
            j += 1
        path = text[i:j].strip()
        try:
            parse(path)
        except PathSyntaxError as exc:
            raise IntrinsicSyntaxError(str(exc)) from exc
        return PathArg(path), j
    j = i
    while j < len(text) and text[j] not in ",)":
        j += 1
    token = text[i:j].strip()
    try:
        return Literal(json.loads(token)), j
    except json.JSONDecodeError as exc:
        raise IntrinsicSyntaxError(f"bad literal {token!r}") from exc


def evaluate(text: str, data: Any, context: Any) -> Any:
    try:
        call = parse_call(text)
    except IntrinsicSyntaxError as exc:
        raise StatesError(INTRINSIC, "Invalid intrinsic function call.") from exc
    return _eval(call, data, context)


def _eval(node: Any, data: Any, context: Any) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, PathArg):
        return select(node.text, data, context, error=INTRINSIC)
    args = [_eval(a, data, context) for a in node.args]
    try:
        return FUNCTIONS[node.name](*args)
    except StatesError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, json.JSONDecodeError) as exc:
        raise StatesError(INTRINSIC, f"{node.name} failed: {type(exc).__name__}") from exc


# ---- the functions ------------------------------------------------------------------------


def _fail(message: str) -> StatesError:
    return StatesError(INTRINSIC, message)


def _format(template: str, *values: Any) -> str:
    out, k, i = [], 0, 0
    while i < len(template):
        if template.startswith("\\{", i) or template.startswith("\\}", i):
            out.append(template[i + 1])
            i += 2
        elif template.startswith("{}", i):
            if k >= len(values):
                raise _fail("States.Format has fewer arguments than placeholders")
            v = values[k]
            out.append(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
            k += 1
            i += 2
        else:
            out.append(template[i])
            i += 1
    if k != len(values):
        raise _fail("States.Format has more arguments than placeholders")
    return "".join(out)


def _partition(array: list[Any], size: int) -> list[list[Any]]:
    if not isinstance(array, list) or not isinstance(size, int) or size < 1:
        raise _fail("States.ArrayPartition needs an array and a positive chunk size")
    return [array[i : i + size] for i in range(0, len(array), size)]


def _range(start: int, end: int, step: int) -> list[int]:
    if step == 0:
        raise _fail("States.ArrayRange step must not be 0")
    out = list(range(start, end + (1 if step > 0 else -1), step))
    if len(out) > 1000:
        raise _fail("States.ArrayRange makes at most 1000 items")
    return out


def _unique(array: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in array:
        if item not in out:
            out.append(item)
    return out


def _hash(data: Any, algorithm: str) -> str:
    names = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384"}
    names["SHA-512"] = "sha512"
    if algorithm not in names:
        raise _fail("States.Hash algorithm must be MD5, SHA-1, SHA-256, SHA-384 or SHA-512")
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return hashlib.new(names[algorithm], text.encode(), usedforsecurity=False).hexdigest()


def _merge(a: dict[str, Any], b: dict[str, Any], deep: bool) -> dict[str, Any]:
    if deep:
        raise _fail("States.JsonMerge supports only shallow merges (false)")
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise _fail("States.JsonMerge needs two objects")
    return {**a, **b}


def _math_add(a: int, b: int) -> int:
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (a, b)):
        raise _fail("States.MathAdd needs integers")
    return a + b


def _math_random(start: int, end: int, *seed: int) -> int:
    rng = random.Random(seed[0]) if seed else random.SystemRandom()  # noqa: S311
    return rng.randint(start, end - 1) if end > start else start


def _split(text: str, delimiters: str) -> list[str]:
    parts = [text]
    for d in delimiters:
        parts = [p for part in parts for p in part.split(d)]
    return [p for p in parts if p]


def _get_item(array: list[Any], index: int) -> Any:
    if not isinstance(array, list) or not 0 <= index < len(array):
        raise _fail("States.ArrayGetItem index out of range")
    return array[index]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "States.Format": _format,
    "States.StringToJson": lambda s: json.loads(s),
    "States.JsonToString": lambda v: json.dumps(v, separators=(",", ":")),
    "States.Array": lambda *v: list(v),
    "States.ArrayPartition": _partition,
    "States.ArrayContains": lambda a, v: v in a,
    "States.ArrayRange": _range,
    "States.ArrayGetItem": _get_item,
    "States.ArrayLength": lambda a: len(a),
    "States.ArrayUnique": _unique,
    "States.Base64Encode": lambda s: base64.b64encode(s.encode()).decode(),
    "States.Base64Decode": lambda s: base64.b64decode(s.encode(), validate=True).decode(),
    "States.Hash": _hash,
    "States.JsonMerge": _merge,
    "States.MathRandom": _math_random,
    "States.MathAdd": _math_add,
    "States.StringSplit": _split,
    "States.UUID": lambda: str(uuid.uuid4()),
}
