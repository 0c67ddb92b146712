"""Value rules both adapters share, and the JSON codec SQLite stores items with.

DynamoDB keeps one number type and drops trailing zeros, so a number cannot come back
as exactly the Python type it went in as. Both adapters therefore read numbers the same
way: integral -> int, anything else -> Decimal. Tests and callers see one behaviour.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from tpm.adapters.store.base import Item

# Tags for the two types JSON lacks. A caller's own one-key map whose key starts with "$"
# is wrapped in "$o" so it can never be mistaken for a tag.
_DECIMAL, _BYTES, _ESCAPED = "$d", "$b", "$o"


def number(value: Decimal) -> int | Decimal:
    """The one reading rule for stored numbers."""
    if value == value.to_integral_value():
        return int(value)
    return value


def is_expired(expires_at: object, now: int) -> bool:
    """An item whose `expires_at` has arrived is treated as gone (DynamoDB TTL is lazy)."""
    return isinstance(expires_at, int | Decimal) and expires_at <= now


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {_DECIMAL: str(value)}
    if isinstance(value, bytes):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        encoded = {k: _encode(v) for k, v in value.items()}
        if len(value) == 1 and next(iter(value)).startswith("$"):
            return {_ESCAPED: encoded}
        return encoded
    return value  # str, int, bool, None: JSON has them (check_item rejected the rest)


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, inner),) = value.items()
            if tag == _DECIMAL:
                return number(Decimal(inner))
            if tag == _BYTES:
                return base64.b64decode(inner)
            if tag == _ESCAPED:
                return {k: _decode(v) for k, v in inner.items()}
        return {k: _decode(v) for k, v in value.items()}
    return value


def dumps(item: Item) -> str:
    return json.dumps(_encode(item), separators=(",", ":"), ensure_ascii=False)


def loads(data: str) -> Item:
    decoded = _decode(json.loads(data))
    assert isinstance(decoded, dict)
    return decoded
