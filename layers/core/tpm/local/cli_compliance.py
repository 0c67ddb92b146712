"""`tpm compliance query`: the investigator's questions, answered from the local audit log;
`tpm compliance report`: the evidence report from a test run (tpm.services.compliance_report).

The same four questions the saved Athena queries answer in AWS
(infrastructure/audit-queries.yaml), asked of the practice's chain directly:

  user          everything one person did between two times
  patient       everyone who opened (or was refused) one patient's record
  after-hours   every PHI access outside business hours (locally there is no KMS log:
                the application's own PHI accesses are the closest question)
  admin         every administrative or permission change (roles, invitations,
                deactivations, care teams, settings, audit settings, break-glass, the
                vendor register)

Output is CSV on stdout (one row per event: seq, time, actor, roles, action, resource,
patient, outcome, break_glass, reason, source ip, request id) or `--json` lines. Each
query is itself recorded in the trail (`audit.read`, reason `cli_query`). The rows say who
looked at which record: handle the output as PHI.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tpm.adapters.store.base import PracticeStore
from tpm.local.cli_common import CliError, add_target, open_target
from tpm.repositories.users import UserRepository
from tpm.security.audit import events_between, query_events
from tpm.security.audit_chain import AUDIT_QUERIED, ChainedEvent
from tpm.security.policy import permission_table
from tpm.services.practices import get_practice

COLUMNS = (
    "seq",
    "time",
    "actor_kind",
    "actor_id",
    "roles",
    "action",
    "resource_kind",
    "resource_id",
    "patient_id",
    "outcome",
    "break_glass",
    "reason_code",
    "source_ip",
    "request_id",
)
# Changes to who may do what: the "every admin or permission change" question.
ADMIN_ACTIONS = frozenset(
    {
        "user.invite",
        "user.approve",
        "user.update_roles",
        "user.update_relations",
        "user.deactivate",
        "user.sessions.revoke",
        "practice.settings.update",
        "audit.settings.update",
        "patient.care_team.update",
        "patient.break_glass",
        "supervision.cosign_requirement.update",
        "vendor.manage",
        "psychotherapy_note.grant",
    }
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    compliance = sub.add_parser("compliance", help="the compliance officer's tools")
    cmds = compliance.add_subparsers(dest="compliance_command", required=True)
    query = cmds.add_parser("query", help="answer an investigator's question from the audit log")
    questions = query.add_subparsers(dest="question", required=True)

    def question(name: str, text: str) -> argparse.ArgumentParser:
        q = questions.add_parser(name, help=text)
        add_target(q)
        q.add_argument("--from", dest="start", default=None, help="YYYY-MM-DD or RFC 3339")
        q.add_argument("--to", dest="end", default=None, help="YYYY-MM-DD (included) or RFC 3339")
        q.add_argument("--json", action="store_true", help="JSON lines instead of CSV")
        q.set_defaults(handler=_query)
        return q

    user = question("user", "everything one person did")
    user.add_argument("--user", required=True, help="a user id (usr_…) or an email address")
    patient = question("patient", "everyone who opened one patient's record")
    patient.add_argument("--patient", required=True, help="a patient id (pat_…)")
    hours = question("after-hours", "PHI accesses outside business hours (practice time)")
    hours.add_argument("--opens", default="08:00", help="business hours start (default 08:00)")
    hours.add_argument("--closes", default="18:00", help="business hours end (default 18:00)")
    hours.add_argument("--weekends", action="store_true", help="count weekends as open")
    question("admin", "every administrative or permission change")

    report = cmds.add_parser(
        "report", help="requirements, controls and the tests that prove them (HTML, PDF)"
    )
    report.add_argument("--junit", type=Path, required=True, help="pytest's JUnit XML")
    report.add_argument(
        "--out", type=Path, default=Path("docs/compliance-report"), help="output folder"
    )
    report.add_argument("--json", action="store_true", help="print the summary as JSON")
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from tpm.services.compliance_report import (
        as_dict,
        build_report,
        junit_results,
        load_requirements,
        write_report,
    )

    if not args.junit.is_file():
        raise CliError(f"--junit: {args.junit} is not a file")
    report = build_report(load_requirements(), junit_results(args.junit))
    paths = write_report(report, args.out)
    if args.json:
        print(json.dumps(as_dict(report), sort_keys=True))
    else:
        print(f"{report.met} of {len(report.rows)} requirements met, {report.gaps} gap(s)")
        for row in report.rows:
            if row.status.value == "gap":
                print(f"  GAP {row.requirement.id} {row.requirement.title}: {row.why}")
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _query(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        zone = get_practice(target.runtime.store, target.practice_id).zone
        start = _moment(args.start, zone, "--from", end_of_day=False)
        end = _moment(args.end, zone, "--to", end_of_day=True)
        store = target.store
        rows: Iterator[ChainedEvent]
        if args.question == "user":
            user_id = args.user
            if "@" in user_id:
                found = UserRepository(store, target.runtime.cipher).find_by_email(user_id)
                if found is None:
                    raise CliError("no account with that email in this practice")
                user_id = found.id
            rows = _indexed(store, start, end, user_id=user_id)
        elif args.question == "patient":
            rows = _indexed(store, start, end, patient_id=args.patient)
        elif args.question == "after-hours":
            opens, closes = _clock(args.opens, "--opens"), _clock(args.closes, "--closes")
            phi = {name for name, spec in permission_table().actions.items() if spec.phi}
            rows = (
                e
                for e in _all(store, start, end)
                if e.action in phi
                and e.actor_kind == "user"
                and _after_hours(e, zone, opens, closes, weekends_open=args.weekends)
            )
        else:
            rows = (e for e in _all(store, start, end) if e.action in ADMIN_ACTIONS)
        count = _print(rows, as_json=args.json)
        target.record(AUDIT_QUERIED, "audit_event", reason_code="cli_query")
    print(f"{count} event(s)", file=sys.stderr)
    return 0


def _indexed(
    store: PracticeStore,
    start: datetime | None,
    end: datetime | None,
    *,
    user_id: str | None = None,
    patient_id: str | None = None,
) -> Iterator[ChainedEvent]:
    cursor: str | None = None
    while True:
        page = query_events(
            store,
            user_id=user_id,
            patient_id=patient_id,
            start=start,
            end=end,
            limit=100,
            cursor=cursor,
        )
        yield from page.events
        cursor = page.next_cursor
        if cursor is None:
            return


def _all(
    store: PracticeStore, start: datetime | None, end: datetime | None
) -> Iterator[ChainedEvent]:
    yield from events_between(store, start, end)  # every shard, by time


def _after_hours(
    event: ChainedEvent, zone: ZoneInfo, opens: time, closes: time, *, weekends_open: bool
) -> bool:
    local = datetime.fromisoformat(event.time.replace("Z", "+00:00")).astimezone(zone)
    if local.weekday() >= 5 and not weekends_open:
        return True
    return not opens <= local.time() < closes


def _print(rows: Iterator[ChainedEvent], *, as_json: bool) -> int:
    count = 0
    writer = None if as_json else csv.writer(sys.stdout, lineterminator="\n")
    if writer is not None:
        writer.writerow(COLUMNS)
    for event in rows:
        data = event.model_dump(mode="json")
        data["roles"] = ",".join(data["roles"])
        if writer is None:
            print(json.dumps({c: data[c] for c in COLUMNS}, sort_keys=True))
        else:
            writer.writerow([_cell(data[c]) for c in COLUMNS])
        count += 1
    return count


def _cell(value: object) -> str:
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _clock(text: str, flag: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"{flag} is not a time of day (HH:MM)") from exc


def _moment(text: str | None, zone: ZoneInfo, flag: str, *, end_of_day: bool) -> datetime | None:
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end_of_day else 0)
            return datetime.combine(day, time(), tzinfo=zone)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"{flag} is not a date (YYYY-MM-DD) or an RFC 3339 date-time") from exc
    if moment.tzinfo is None:
        raise CliError(f"{flag} needs an offset, e.g. 2026-01-01T00:00:00Z")
    return moment
