"""Opaque, unguessable identifiers with a type prefix (`pat_01J…`).

ULIDs carry 80 random bits; they sort by creation time, which keeps index pages in order,
and they are never derived from PHI.
"""

from __future__ import annotations

import re

from ulid import ULID

_ID = re.compile(r"^[a-z]{2,5}_[0-9a-z]{26}$")


def new_id(prefix: str) -> str:
    return f"{prefix}_{str(ULID()).lower()}"


def is_id(value: str, prefix: str | None = None) -> bool:
    if not _ID.match(value):
        return False
    return prefix is None or value.startswith(prefix + "_")
