"""The claim lifecycle on the local workflow runner (statemachines/billing.asl.json): each
claim's execution follows it through the stages as the billing services move it, writes
a follow-up when a stage waits past its deadline, and ends when the claim is paid,
corrected or voided. A rejected claim is resubmitted as an original."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from scheduling_world import SchedulingWorld, build
from test_billing import insure, set_up, signed_note_charge

from tpm.adapters.workflows.local import LocalWorkflows
from tpm.domain.billing.acks import ClaimStatus
from tpm.domain.billing.remit835 import Adjustment, ClaimPayment
from tpm.domain.billing.responses import render_277ca, render_835
from tpm.local.workflow_runner import WorkflowRunner, template_runner
from tpm.repositories.billing import ClaimWorkflowRepository
from tpm.runtime import set_runtime
from tpm.security.audit import read_events, read_head
from tpm.services.claim_workflow import MACHINE, execution_for


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[SchedulingWorld]:
    w = build(tmp_path, project_root)
    yield w
    set_runtime(None)


def runner(world: SchedulingWorld) -> WorkflowRunner:
    workflows = world.runtime.workflows
    assert isinstance(workflows, LocalWorkflows)
    return template_runner(workflows, world.runtime.store, world.gateway.locked_handler)


def execution(world: SchedulingWorld, claim_id: str) -> Any:
    found = [
        e
        for e in world.runtime.workflows.executions(world.practice_id, MACHINE)
        if e.name.endswith(execution_for(claim_id))
    ]
    assert len(found) == 1
    return world.runtime.workflows.describe(world.practice_id, found[0].id)


def stage(world: SchedulingWorld, claim_id: str) -> str:
    """The stage the claim's execution waits in (or how it ended)."""
    info = execution(world, claim_id)
    if info.status != "RUNNING":
        return str(info.status)
    assert info.waiting == ["Await"], info
    store = world.runtime.store.practice(world.practice_id)
    found = ClaimWorkflowRepository(store, world.runtime.cipher).token(claim_id)
    assert found is not None
    return found[1]


def events(world: SchedulingWorld, claim_id: str) -> list[str]:
    return [e["event"] for e in world.ok("GET", f"/v1/claims/{claim_id}", "biller")["history"]]


def answer_277(world: SchedulingWorld, claim: dict[str, Any], category: str) -> None:
    text = render_277ca(
        sender="SYNPY1",
        receiver="TPMSYNTH",
        at=world.clock.now(),
        control=900 + len(category),
        statuses=[ClaimStatus(claim["pcn"], category, "21", "PR", "PAYER77")],
        billing_npi="1245319599",
        service_date=date(2026, 3, 2),
    )
    world.ok("POST", "/v1/billing/inbound", "biller", {"content": text})


def test_a_claim_from_build_to_correction(world: SchedulingWorld) -> None:
    set_up(world)
    insure(world, "ada")
    run = runner(world)
    # GIVEN a claim built from a signed note: its execution waits for a batch
    claim = world.ok(
        "POST", "/v1/claims", "biller", {"charge_ids": [signed_note_charge(world)["id"]]}
    )
    run.run_until_idle()
    assert stage(world, claim["id"]) == "batch"
    # WHEN it is batched and sent, the execution follows
    batch = world.ok("POST", "/v1/claim-batches", "biller", {"claim_ids": [claim["id"]]})
    run.run_until_idle()
    assert stage(world, claim["id"]) == "send"
    world.ok("POST", f"/v1/claim-batches/{batch['id']}/submit", "biller")
    run.run_until_idle()
    assert stage(world, claim["id"]) == "acknowledge"
    # AND the clearinghouse's 999 and 277CA accept it: waiting for the 835
    world.ok("POST", "/v1/billing/clearinghouse/collect", "biller")
    run.run_until_idle()
    assert stage(world, claim["id"]) == "remit"
    # WHEN no 835 comes for 30 days, a follow-up is written on the claim (once)
    world.clock.advance(days=30, seconds=5)
    run.run_until_idle()
    assert events(world, claim["id"]).count("follow_up") == 1
    detail = world.ok("GET", f"/v1/claims/{claim['id']}", "biller")["history"][-1]
    assert detail["by"] == "workflow-billing"
    assert detail["detail"].startswith("remit 1: no 835 30 days after acceptance")
    assert stage(world, claim["id"]) == "remit"
    # AND the payer's 835 denies it: waiting for a correction
    denial = ClaimPayment(
        claim_id=claim["pcn"],
        status="4",
        charge=Decimal(200),
        paid=Decimal(0),
        patient_responsibility=Decimal(0),
        filing_indicator="12",
        payer_claim_number="PAYER77",
        adjustments=[Adjustment("CO", "197", Decimal(200))],
    )
    remit = render_835(
        sender="SYNPY1",
        receiver="TPMSYNTH",
        at=world.clock.now(),
        control=31,
        payer_name="PLAN",
        payer_tin="1999999999",
        payee_name="GROUP",
        payee_npi="1245319599",
        trace="EFT-DENY",
        payment_date=date(2026, 4, 2),
        claims=[denial],
    )
    world.ok("POST", "/v1/billing/inbound", "biller", {"content": remit})
    run.run_until_idle()
    assert stage(world, claim["id"]) == "correct"
    # WHEN the biller sends a replacement, the original's execution ends and the
    # replacement's starts at the batch stage
    fix = world.ok("POST", f"/v1/claims/{claim['id']}/corrections", "biller", {"frequency": "7"})
    run.run_until_idle()
    assert stage(world, claim["id"]) == "SUCCEEDED"
    assert stage(world, fix["id"]) == "batch"
    # AND the trail names the workflow for what it did
    store = world.runtime.store.practice(world.practice_id)
    head = read_head(store)
    assert head is not None
    actions = [
        e.action for e in read_events(store, 1, head.seq) if e.actor_id == "workflow-billing"
    ]
    assert actions == ["claim.follow_up"]


def test_a_rejected_claim_is_resubmitted_as_an_original(world: SchedulingWorld) -> None:
    set_up(world)
    insure(world, "ada")
    run = runner(world)
    claim = world.ok(
        "POST", "/v1/claims", "biller", {"charge_ids": [signed_note_charge(world)["id"]]}
    )
    batch = world.ok("POST", "/v1/claim-batches", "biller", {"claim_ids": [claim["id"]]})
    world.ok("POST", f"/v1/claim-batches/{batch['id']}/submit", "biller")
    # GIVEN the payer's 277CA rejects it (A7: the payer never took it in)
    answer_277(world, claim, "A7")
    run.run_until_idle()
    rejected = world.ok("GET", f"/v1/claims/{claim['id']}", "biller")
    assert rejected["status"] == "rejected"
    assert stage(world, claim["id"]) == "fix"
    # WHEN the biller resubmits it with a stale version: 409, nothing changes
    path = f"/v1/claims/{claim['id']}/resubmit"
    stale = world.call("POST", path, "biller", {"version": rejected["version"] - 1})
    assert (stale.status, stale.body["error"]["code"]) == (409, "version_conflict")
    # AND with the current one: validated again as an original, back to the batch stage
    again = world.ok("POST", path, "biller", {"version": rejected["version"]})
    assert (again["status"], again["frequency"], again["batch_id"]) == ("validated", "1", None)
    assert [e["event"] for e in again["history"]][-2:] == ["resubmitted", "validated"]
    run.run_until_idle()
    assert stage(world, claim["id"]) == "batch"
    # AND a validated claim is not resubmitted
    refused = world.call("POST", path, "biller", {"version": again["version"]})
    assert (refused.status, refused.body["error"]["code"]) == (409, "claim_not_resubmittable")
