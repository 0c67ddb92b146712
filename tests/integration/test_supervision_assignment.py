"""An admin assigns a clinician's supervisor and reads it back (the staff app's user
screen): only a supervisor may be assigned, twice is a 409, and the read is audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scheduling_world import SchedulingWorld, build

from tpm.security.audit import read_events, read_head


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[SchedulingWorld]:
    from tpm.runtime import set_runtime

    yield build(tmp_path, project_root)
    set_runtime(None)


def test_admin_assigns_a_supervisor_and_reads_it_back(world: SchedulingWorld) -> None:
    clinician = world.users["clinician"].id
    supervisor = world.users["supervisor"]
    path = f"/v1/users/{clinician}/supervisors"
    assert world.ok("GET", path, "admin")["items"] == []
    # a clinician is not a supervisor: refused with the field named, nothing written
    wrong = world.call("POST", path, "admin", {"supervisor_id": world.users["clinician2"].id})
    assert (wrong.status, wrong.body["error"]["details"]["fields"][0]["type"]) == (
        422,
        "not_a_supervisor",
    )
    assert world.call("POST", path, "admin", {"supervisor_id": supervisor.id}).status == 204
    again = world.call("POST", path, "admin", {"supervisor_id": supervisor.id})
    assert again.status == 409
    [listed] = world.ok("GET", path, "admin")["items"]
    assert (listed["id"], listed["display_name"], listed["status"]) == (
        supervisor.id,
        supervisor.display_name,
        "active",
    )
    # the read is in the audit trail, about the supervisee
    store = world.runtime.store.practice(world.practice_id)
    head = read_head(store)
    assert head is not None
    [last] = list(read_events(store, head.seq, head.seq))
    assert (last.action, last.resource_id, last.reason_code) == (
        "user.read",
        clinician,
        "supervisors",
    )
    # a clinician may not read another's supervision
    assert world.call("GET", path, "clinician2").status == 403
