"""Creating and finding practices (tenants).

The practice directory lives in the reserved system scope: it maps a slug (used at sign-in
and in the portal's address) to a practice id. Everything else about a practice lives in
the practice's own scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tpm.adapters.store.base import (
    SYSTEM_PRACTICE,
    Absent,
    ConditionFailed,
    Put,
    Store,
    VersionIs,
    iterate,
)
from tpm.clock import Clock, to_rfc3339
from tpm.domain.practice import Practice, PracticeSettings
from tpm.errors import AlreadyExists, NotFound
from tpm.ids import new_id

_DIRECTORY = "PRACTICE"
_SLUGS = "PRACTICE_SLUG"
_PROFILE = ("PRACTICE", "PROFILE")


def create_practice(
    store: Store,
    clock: Clock,
    *,
    name: str,
    slug: str,
    timezone: str,
    settings: PracticeSettings | None = None,
) -> Practice:
    practice = Practice(
        id=new_id("prx"),
        name=name,
        slug=slug,
        timezone=timezone,
        created_at=clock.now(),
        settings=settings or PracticeSettings(),
    )
    system = store.practice(SYSTEM_PRACTICE)
    entry = {"practice_id": practice.id, "slug": slug, "created_at": to_rfc3339(clock.now())}
    try:
        system.transact(
            [
                Put({"pk": _SLUGS, "sk": slug, **entry}, Absent()),
                Put({"pk": _DIRECTORY, "sk": practice.id, **entry}, Absent()),
            ]
        )
    except ConditionFailed as exc:
        raise AlreadyExists("A practice with this slug already exists.") from exc
    store.practice(practice.id).put(_to_item(practice), Absent())
    return practice


def update_op(practice: Practice) -> Put:
    """`practice` carries the new version; the stored one must be exactly one behind."""
    return Put(_to_item(practice), VersionIs(practice.version - 1))


def get_practice(store: Store, practice_id: str) -> Practice:
    item = store.practice(practice_id).get(*_PROFILE)
    if item is None:
        raise NotFound()
    return _from_item(item)


def practice_id_for_slug(store: Store, slug: str) -> str | None:
    item = store.practice(SYSTEM_PRACTICE).get(_SLUGS, slug)
    return None if item is None else str(item["practice_id"])


def all_practice_ids(store: Store) -> Iterator[str]:
    """For operator jobs (key rotation, audit checkpoints), never for request paths."""
    for item in iterate(store.practice(SYSTEM_PRACTICE), _DIRECTORY):
        yield str(item["practice_id"])


def _to_item(practice: Practice) -> dict[str, Any]:
    data = practice.model_dump(mode="json")
    return {"pk": _PROFILE[0], "sk": _PROFILE[1], **data}


def _from_item(item: dict[str, Any]) -> Practice:
    fields = {k: v for k, v in item.items() if k in Practice.model_fields}
    return Practice.model_validate(fields)
