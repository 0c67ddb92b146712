"""`tpm keys rotate`: re-wrap every practice's data keys under a new master key.

Field ciphertexts are untouched (see tpm.services.key_rotation), so this is quick and
safe to re-run; pass the printed target key with `--to` to resume an interrupted run.
"""

from __future__ import annotations

import argparse

from tpm.local.cli_common import add_data_dir, open_runtime
from tpm.services.key_rotation import RotationReport, rotate_master_key
from tpm.services.practices import all_practice_ids


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="key management")
    cmds = keys.add_subparsers(dest="keys_command", required=True)
    rotate = cmds.add_parser("rotate", help="re-wrap every data key under a new master key")
    add_data_dir(rotate)
    rotate.add_argument("--to", default=None, help="target KMS key (kms:// deployments)")
    rotate.set_defaults(handler=_rotate)


def _rotate(args: argparse.Namespace) -> int:
    with open_runtime(args.data_dir) as runtime:
        practice_ids = list(all_practice_ids(runtime.store))
        report = rotate_master_key(runtime.store, runtime.master_key, practice_ids, args.to)
    print(describe(report))
    return 0


def describe(report: RotationReport) -> str:
    lines = [
        f"master key is now {report.target_key_id}",
        f"  practices        {report.practices}",
        f"  re-wrapped       {report.rewrapped} data key(s)",
        f"  already current  {report.already_current}",
        f"  retried writes   {report.retried}",
    ]
    lines += [f"  {pid}: {count} re-wrapped" for pid, count in sorted(report.by_practice.items())]
    return "\n".join(lines)
