"""`tpm workflows`: the local runner's executions, and the probe.

  tpm workflows list --workflow intake     newest first: id, status, started, waiting states
  tpm workflows show <execution id>        the execution and its history (ids and codes only)
  tpm workflows probe                      run statemachines/probe.asl.json to the end

Reads are audited as the operator (workflow state holds ids and codes, never PHI).
"""

from __future__ import annotations

import argparse
import json
import time

from tpm.adapters.workflows.local import LocalWorkflows
from tpm.local.cli_common import CliError, add_target, open_target
from tpm.local.workflow_runner import template_runner
from tpm.runtime import set_runtime


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    workflows = sub.add_parser("workflows", help="state machine executions (local runner)")
    cmds = workflows.add_subparsers(dest="workflows_command", required=True)
    listing = cmds.add_parser("list", help="a workflow's executions, newest first")
    listing.add_argument("--workflow", required=True, help="e.g. intake, probe")
    listing.add_argument("--limit", type=int, default=20)
    add_target(listing)
    listing.set_defaults(handler=_list)
    show = cmds.add_parser("show", help="one execution with its history")
    show.add_argument("execution_id")
    add_target(show)
    show.set_defaults(handler=_show)
    probe = cmds.add_parser("probe", help="run the workflow probe (every state type) to the end")
    add_target(probe)
    probe.set_defaults(handler=_probe)


def _local(workflows: object) -> LocalWorkflows:
    if not isinstance(workflows, LocalWorkflows):
        raise CliError("these commands read the local runner (TPM_WORKFLOWS=local://)")
    return workflows


def _list(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        workflows = _local(target.runtime.workflows)
        executions = workflows.executions(target.practice_id, args.workflow, limit=args.limit)
        target.record("workflow.list", "workflow", reason_code=f"count_{len(executions)}")
        for x in executions:
            waiting = ",".join(x.waiting) or "-"
            print(f"{x.id}  {x.status:<9}  {x.started_at}  waiting: {waiting}")
        print(f"{len(executions)} execution(s) of {args.workflow}")
    return 0


def _show(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        workflows = _local(target.runtime.workflows)
        x = workflows.describe(target.practice_id, args.execution_id)
        target.record("workflow.read", "workflow", x.id)
        print(f"{x.id} {x.machine} {x.status} started {x.started_at} stopped {x.stopped_at}")
        if x.error:
            print(f"error: {x.error}")
        for e in workflows.history(target.practice_id, x.id):
            detail = json.dumps(e.detail, separators=(",", ":")) if e.detail else ""
            print(f"{e.n:>4} {e.at} {e.type:<20} {e.state or '':<24} {detail[:120]}")
    return 0


def _probe(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        workflows = _local(target.runtime.workflows)
        set_runtime(target.runtime)  # the probe's callback task answers through it
        runner = template_runner(workflows, target.runtime.store)
        ref = workflows.start(
            target.practice_id,
            "probe",
            f"probe-{int(time.time())}",
            {"fail_once": True, "wait_seconds": 1},
        )
        target.record("workflow.start", "workflow", ref.id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runner.run_until_idle()
            info = workflows.describe(target.practice_id, ref.id)
            if info.status != "RUNNING":
                break
            time.sleep(0.2)
        print(f"{ref.id}: {info.status} after {runner.transitions} transitions")
        return 0 if info.status == "SUCCEEDED" else 1
