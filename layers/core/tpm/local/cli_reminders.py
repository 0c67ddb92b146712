"""`tpm reminders sweep`: run the reminder sweep once, now, for every practice.

The same sweep `tpm dev` runs every five minutes and EventBridge runs in AWS (exactly once:
a message claimed by another sweep running at the same time is not sent twice). Useful
after changing reminder settings, or in tests that should not wait for the schedule.
Prints counts per practice (by slug) and in total: never a name, address or message.
"""

from __future__ import annotations

import argparse
import sys

from tpm.local.cli_common import add_data_dir, open_runtime
from tpm.services.practices import all_practice_ids, get_practice
from tpm.services.reminder_sweep import ReminderSweep, SweepReport


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reminders = sub.add_parser("reminders", help="appointment reminders: run the sweep now")
    cmds = reminders.add_subparsers(dest="reminders_command", required=True)
    sweep = cmds.add_parser("sweep", help="send every due reminder now, for every practice")
    add_data_dir(sweep)
    sweep.set_defaults(handler=_sweep)


def counts(report: SweepReport) -> str:
    return (
        f"sent {report.sent}, skipped {report.skipped}, failed {report.failed},"
        f" retried {report.retried}"
    )


def _sweep(args: argparse.Namespace) -> int:
    with open_runtime(args.data_dir) as runtime:
        sweep = ReminderSweep(runtime)
        total = SweepReport()
        broken = 0
        for practice_id in all_practice_ids(runtime.store):
            slug = get_practice(runtime.store, practice_id).slug
            total.practices += 1
            try:
                report = sweep.sweep_practice(practice_id)
            except Exception as exc:  # one practice's failure must not stop the others
                broken += 1
                # The type only: an exception's text could carry a stored value.
                print(f"{slug}: FAILED ({type(exc).__name__})", file=sys.stderr)
                continue
            total.add(report)
            if report.quiet:
                print(f"{slug}: quiet hours, nothing sent (due reminders wait)")
            else:
                print(f"{slug}: {counts(report)}")
    print(f"{total.practices} practice(s): {counts(total)} (run {sweep.run_id})")
    if broken:
        print(f"{broken} practice(s) failed; see the log above", file=sys.stderr)
    return 1 if broken else 0
