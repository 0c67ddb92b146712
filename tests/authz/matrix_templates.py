"""Authorization matrix rows for the clinical template routes (see matrix.py for the format).

Templates are practice configuration (no PHI). Targets are practice templates written
straight through the repository as a system actor: "own" in the caller's practice,
"foreign" in the other one (always 404). Every write gets a fresh id, so no case collides
with another role's call."""

from __future__ import annotations

import itertools
from typing import Any

from matrix import CL, OW, STAFF, A, Case, S, Target, every
from world import World

from tpm.domain.templates import builtin_library, clone
from tpm.repositories.practice_templates import PracticeTemplateRepository
from tpm.security.principal import Role

_IDS = itertools.count(1)
VARIANTS = ("own", "foreign")
AUTHORS = [OW, A, CL, S]


def fresh_id() -> str:
    return f"prx_matrix_{next(_IDS)}"


def stored_template(world: World, variant: str) -> str:
    """A practice template (a SOAP clone) in the variant's practice; returns its id."""
    practice = world.a if variant == "own" else world.b
    template = clone(builtin_library().latest("progress_note_soap"), fresh_id())
    world.system_write(practice.id, [PracticeTemplateRepository.create_op(template)])
    return template.id


def template_target(body: Any = None, *, with_version: bool = False) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        params = {"templateId": stored_template(world, variant)}
        if with_version:
            params["version"] = "1"
        return params, body() if callable(body) else body

    return make


def definition(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    raw = clone(builtin_library().latest("progress_note_dap"), fresh_id()).definition()
    raw.pop("derived_from")
    return {}, raw


CASES: list[Case] = [
    Case("GET", "/v1/templates", every(200, STAFF), audit=("template.read",)),
    Case(
        "GET",
        "/v1/templates/{templateId}/versions/{version}",
        every((200, 404), STAFF),
        variants=VARIANTS,
        target=template_target(with_version=True),
        audit=("template.read",),
    ),
    Case(
        "POST",
        "/v1/templates",
        every(201, AUTHORS),
        target=definition,
        audit=("template.create",),
    ),
    Case(
        "POST",
        "/v1/templates/{templateId}/clone",
        every((201, 404), AUTHORS),
        variants=VARIANTS,
        target=template_target(lambda: {"new_id": fresh_id(), "changes": {"title": "Ours"}}),
        audit=("template.create",),
    ),
    Case(
        "POST",
        "/v1/templates/{templateId}/versions",
        every((201, 404), AUTHORS),
        variants=VARIANTS,
        target=template_target({"changes": {"title": "Ours, revised"}}),
        audit=("template.create",),
    ),
]
