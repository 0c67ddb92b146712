"""`tpm billing check FILE` and `tpm billing read FILE`: X12 files from anywhere (a
clearinghouse, another system), read as they come in practice: a UTF-8 byte-order mark,
line breaks or indentation between segments, any separators the ISA declares.

check  validates an 837P with pyx12 and our rules; one line per problem
       (loop, segment, element, message); exit 1 if there is any.
read   prints what a 999, 277CA or 835 holds; for an 835 the claims, lines, adjustments,
       PLB, the three balancing results and what would post where. `--json` for machines.

Neither touches a store: they read the file only. Output can hold what the file holds
(names, member ids) and is for the operator's terminal, never a log.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, is_dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from tpm.domain.billing.acks import read_277ca, read_999
from tpm.domain.billing.remit835 import balance, plan_postings, read_835
from tpm.domain.billing.x12 import Segment, X12SyntaxError, parse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    billing = sub.add_parser("billing", help="X12 files: validate an 837P, read a 999/277CA/835")
    cmds = billing.add_subparsers(dest="billing_command", required=True)
    check = cmds.add_parser("check", help="validate an 837P with pyx12 and our rules")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="print JSON")
    check.set_defaults(handler=_check)
    read = cmds.add_parser("read", help="print what a 999, 277CA or 835 holds")
    read.add_argument("file", type=Path)
    read.add_argument("--json", action="store_true", help="print JSON")
    read.set_defaults(handler=_read)


def load_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _check(args: argparse.Namespace) -> int:
    from tpm.adapters.x12_validator import validate_837p

    problems = validate_837p(load_text(args.file))
    if args.json:
        print(
            json.dumps(
                {"valid": not problems, "problems": [p.as_dict() for p in problems]}, indent=2
            )
        )
    else:
        for p in problems:
            print(p.line())
        if not problems:
            print(f"{args.file}: valid 837P (pyx12 and our rules)")
        else:
            print(f"{len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def kind_of(segments: list[Segment]) -> str:
    st = next((s for s in segments if s.id == "ST"), None)
    return st.get(1) if st else ""


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def describe(text: str) -> dict[str, Any]:
    """What a 999, 277CA or 835 holds, as plain data (the --json document)."""
    segments = parse(text)
    kind = kind_of(segments)
    if kind == "999":
        ack = read_999(segments)
        return {"kind": "999", "accepted": ack.accepted, **_plain(ack)}
    if kind == "277":
        status = read_277ca(segments)
        claims = [
            {**_plain(c), "accepted": c.accepted, "rejected": c.rejected} for c in status.claims
        ]
        return {"kind": "277CA", "reference": status.reference, "claims": claims}
    if kind == "835":
        remit = read_835(segments)
        results = balance(remit)
        return {
            "kind": "835",
            "remittance": _plain(remit),
            "balanced": all(r.ok for r in results),
            "balancing": [{**_plain(r), "ok": r.ok} for r in results],
            "postings": _plain(plan_postings(remit)),
        }
    return {"kind": kind or "unknown", "error": "not a 999, 277CA or 835 (use `check` for 837P)"}


def _read(args: argparse.Namespace) -> int:
    try:
        doc = describe(load_text(args.file))
    except X12SyntaxError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0 if "error" not in doc else 1
    if "error" in doc:
        print(f"{args.file}: {doc['error']}", file=sys.stderr)
        return 1
    for line in _text(doc):
        print(line)
    return 0


def _text(doc: dict[str, Any]) -> list[str]:
    kind = doc["kind"]
    out: list[str] = []
    if kind == "999":
        out.append(
            f"999 for group {doc['group_control']} ({doc['functional_id']}): {doc['group_status']}"
        )
        for t in doc["transactions"]:
            out.append(f"  transaction {t['transaction_set']} {t['control_number']}: {t['status']}")
            for e in t["errors"]:
                out.append(
                    f"    segment {e['segment']} at {e['position']} error {e['code']}"
                    + (f" element {e['element']}" if e["element"] else "")
                )
        return out
    if kind == "277CA":
        out.append(f"277CA {doc['reference']}: {len(doc['claims'])} claim(s)")
        for c in doc["claims"]:
            verdict = "accepted" if c["accepted"] else "REJECTED" if c["rejected"] else "pending"
            number = (
                f" payer claim number {c['payer_claim_number']}" if c["payer_claim_number"] else ""
            )
            out.append(
                f"  claim {c['claim_id']}: {verdict} ({c['category']}:{c['status_code']}){number}"
            )
        return out
    r = doc["remittance"]
    out.append(
        f"835 from {r['payer_name']}: {r['method']} {r['total']} on {r['payment_date']},"
        f" trace {r['trace']}"
    )
    for c in r["claims"]:
        out.append(
            f"  claim {c['claim_id']} status {c['status']}: charge {c['charge']} paid {c['paid']}"
            f" patient {c['patient_responsibility']} payer claim number {c['payer_claim_number']}"
        )
        for a in c["adjustments"]:
            out.append(f"    claim adjustment {a['group']}-{a['reason']} {a['amount']}")
        for ln in c["lines"]:
            mods = ":".join(ln["modifiers"])
            out.append(
                f"    line {ln['control_number'] or '-'} {ln['procedure']}"
                f"{'-' + mods if mods else ''}:"
                f" charge {ln['charge']} paid {ln['paid']}"
            )
            for a in ln["adjustments"]:
                out.append(f"      {a['group']}-{a['reason']} {a['amount']}")
            if ln["remarks"]:
                out.append(f"      remarks {', '.join(ln['remarks'])}")
    for p in r["provider_adjustments"]:
        out.append(f"  PLB {p['reason']} {p['reference']} {p['amount']}")
    out.append("balancing:")
    for b in doc["balancing"]:
        verdict = "ok" if b["ok"] else "OUT OF BALANCE"
        out.append(
            f"  {b['level']} {b['subject']}: expected {b['expected']},"
            f" actual {b['actual']}: {verdict}"
        )
    out.append(
        "would post:"
        if doc["balanced"]
        else "would post (file is out of balance: to the exception queue):"
    )
    for e in doc["postings"]:
        where = e["claim_id"] or "provider ledger"
        line = f" line {e['line_control']}" if e["line_control"] else ""
        out.append(f"  {e['kind']} {e['amount']} -> {where}{line} {e['reason']}".rstrip())
    return out
