"""`tpm messaging sweep`: run messaging's scheduled jobs once, now, for every practice.

The same jobs `tpm dev` runs on template.yaml's schedules and EventBridge runs in AWS:
escalate unanswered patient messages to the practice queue, then send pending "a secure
message is waiting" notices (at most once each). `--retention` runs the daily retention
review instead. Prints counts per practice (by slug): never a name, address or message.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from tpm.local.cli_common import add_data_dir, open_runtime
from tpm.services.messaging_sweep import MessagingSweep, SweepReport
from tpm.services.practices import all_practice_ids, get_practice


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    messaging = sub.add_parser("messaging", help="secure messaging: run the scheduled jobs now")
    cmds = messaging.add_subparsers(dest="messaging_command", required=True)
    sweep = cmds.add_parser("sweep", help="escalate and send message notices now")
    sweep.add_argument(
        "--retention", action="store_true", help="run the daily retention review instead"
    )
    sweep.add_argument(
        "--as-of",
        type=_moment,
        metavar="TIME",
        help="judge deadlines as at this later RFC 3339 time (to check a test install's "
        "escalation settings end to end without waiting); never earlier than now",
    )
    add_data_dir(sweep)
    sweep.set_defaults(handler=_sweep)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError("an RFC 3339 time with an offset") from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("an RFC 3339 time with an offset")
    return moment


def counts(report: SweepReport) -> str:
    return (
        f"sent {report.sent}, escalated {report.escalated}, skipped {report.skipped},"
        f" failed {report.failed}, retried {report.retried},"
        f" listed for retention review {report.listed_for_review}"
    )


def _sweep(args: argparse.Namespace) -> int:
    with open_runtime(args.data_dir) as runtime:
        if args.as_of is not None and args.as_of < runtime.clock.now():
            print("--as-of must not be in the past", file=sys.stderr)
            return 2
        sweep = MessagingSweep(runtime, as_of=args.as_of)
        total = SweepReport()
        broken = 0
        for practice_id in all_practice_ids(runtime.store):
            slug = get_practice(runtime.store, practice_id).slug
            total.practices += 1
            try:
                if args.retention:
                    report = sweep.retention_practice(practice_id)
                else:
                    report = sweep.sweep_practice(practice_id)
            except Exception as exc:  # one practice's failure must not stop the others
                broken += 1
                print(f"{slug}: FAILED ({type(exc).__name__})", file=sys.stderr)
                continue
            total.add(report)
            print(f"{slug}: {counts(report)}")
    print(f"{total.practices} practice(s): {counts(total)} (run {sweep.run_id})")
    if broken:
        print(f"{broken} practice(s) failed; see the log above", file=sys.stderr)
    return 1 if broken else 0
