"""Choice rules: And / Or / Not and every comparison operator (with its `Path` form)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tpm.adapters.workflows.asl.paths import present, select

_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not _TS.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _cmp(kind: str, op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if kind == "String":
            return isinstance(a, str) and isinstance(b, str) and op(a, b)
        if kind == "Numeric":
            return _num(a) and _num(b) and op(a, b)
        if kind == "Boolean":
            return isinstance(a, bool) and isinstance(b, bool) and op(a, b)
        ta, tb = timestamp(a), timestamp(b)
        return ta is not None and tb is not None and op(ta, tb)

    return compare


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {}
for _kind in ("String", "Numeric", "Timestamp"):
    for _name, _op in _OPS.items():
        COMPARISONS[_kind + _name] = _cmp(_kind, _op)
COMPARISONS["BooleanEquals"] = _cmp("Boolean", _OPS["Equals"])
COMPARISONS["StringMatches"] = lambda a, b: (
    isinstance(a, str) and isinstance(b, str) and _wildcard(a, b)
)

TESTS = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")
OPERATORS = frozenset(
    [*COMPARISONS, *(k + "Path" for k in COMPARISONS if k != "StringMatches"), *TESTS]
)


def _wildcard(value: str, pattern: str) -> bool:
    # '*' is the only wildcard; '\*' is a literal star.
    parts = pattern.split("\\*")
    regex = r"\*".join(_glob(p) for p in parts)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _glob(part: str) -> str:
    return ".*".join(re.escape(s) for s in part.split("*"))


def evaluate(rule: dict[str, Any], data: Any, context: Any) -> bool:
    if "And" in rule:
        return all(evaluate(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate(rule["Not"], data, context)
    variable = rule["Variable"]
    if "IsPresent" in rule:
        return present(variable, data, context) == bool(rule["IsPresent"])
    if not present(variable, data, context):
        return False  # Step Functions: a missing variable fails a comparison
    value = select(variable, data, context)
    for test in TESTS[:1] + TESTS[2:]:
        if test in rule:
            return _test(test, value) == bool(rule[test])
    for name, compare in COMPARISONS.items():
        if name in rule:
            return compare(value, rule[name])
        if name + "Path" in rule:
            other = rule[name + "Path"]
            if not present(other, data, context):
                return False
            return compare(value, select(other, data, context))
    raise ValueError("choice rule without an operator")


def _test(test: str, value: Any) -> bool:
    if test == "IsNull":
        return value is None
    if test == "IsNumeric":
        return _num(value)
    if test == "IsString":
        return isinstance(value, str)
    if test == "IsBoolean":
        return isinstance(value, bool)
    return timestamp(value) is not None
