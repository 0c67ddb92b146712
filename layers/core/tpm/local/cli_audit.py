"""`tpm audit verify|export|checkpoint|shards|…`: the operator's hands on the audit trail.

verify      walks the practice's whole chain and holds it against the signed head and
            every signed checkpoint, including the sealed copies outside the database;
            exit 0 when intact, 1 when anything was altered, deleted, inserted or cut off
export      writes events.jsonl, events.csv and manifest.json for an auditor, re-checks
            what it wrote, and records the export in the trail
checkpoint  signs the current head now and seals it outside the database (the hourly
            job does the same for every practice)
verify-export  checks exports offline (no database): files, the manifest's signature,
            the chain, the CSV, every checkpoint; several directories must also join up
keys        prints the audit signing keys' ids and writes their public halves, to pin
            with `verify-export --trusted-keys`
shards      lists the practice's audit shards (chains), or raises their number
acknowledge-restore  after a point-in-time restore of the table: records who, when, the
            restore point and the heads before and after, signed and written once outside
            the database, so verify reports the lost span instead of failing on it
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tpm.errors import TpmError
from tpm.local.cli_common import (
    OPERATOR,
    CliError,
    Handler,
    add_target,
    open_runtime,
    open_target,
)
from tpm.runtime import Runtime
from tpm.security.audit_chain import (
    AUDIT_EXPORTED,
    AUDIT_SETTINGS_CHANGED,
    AUDIT_VERIFIED,
    MAX_SHARDS,
    VerifyReport,
)
from tpm.security.audit_checkpoints import PublicKeys
from tpm.security.audit_verify import verify
from tpm.services.audit_export import EVENTS_CSV, EVENTS_JSONL, MANIFEST, load_keys_json
from tpm.services.audit_export_sets import check_sets, export_all, export_folders
from tpm.services.practices import all_practice_ids, get_practice, practice_id_for_slug

_PROBLEMS_SHOWN = 20


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="verify, export and checkpoint the audit trail")
    cmds = audit.add_subparsers(dest="audit_command", required=True)

    def command(name: str, handler: Handler, text: str) -> argparse.ArgumentParser:
        cmd = cmds.add_parser(name, help=text)
        add_target(cmd)
        cmd.set_defaults(handler=handler)
        return cmd

    check = command("verify", _verify, "check the whole chain; exit 1 on any problem")
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    out = command("export", _export, "export events in a time range with a manifest")
    out.add_argument(
        "--from",
        dest="start",
        default=None,
        help="YYYY-MM-DD (practice time zone) or RFC 3339; default: the first event",
    )
    out.add_argument(
        "--to",
        dest="end",
        default=None,
        help="YYYY-MM-DD (that whole day included) or RFC 3339 (excluded); default: now",
    )
    out.add_argument("--out", type=Path, required=True, help="a new or empty directory")

    cp = command("checkpoint", _checkpoint, "sign and seal a checkpoint of the chain now")
    cp.add_argument("--all", action="store_true", help="every practice, not just --practice")

    offline = cmds.add_parser(
        "verify-export", help="check exports offline (no database); exit 1 on any problem"
    )
    offline.add_argument("dirs", nargs="+", type=Path, help="export or archive segment folders")
    offline.add_argument(
        "--trusted-keys",
        type=Path,
        default=None,
        help="a folder of public keys (*.pem or public_keys.json) to accept, instead of the"
        " keys that travel with the export",
    )
    offline.add_argument("--json", action="store_true", help="print the report as JSON")
    offline.set_defaults(handler=_verify_export)

    arc = command("archive", _archive, "export new events to the write-once archive now")
    arc.add_argument("--all", action="store_true", help="every practice, not just --practice")

    fetch = command("fetch-archive", _fetch_archive, "copy a practice's archived segments")
    fetch.add_argument("--out", type=Path, required=True, help="a new or empty directory")

    shards = command("shards", _shards, "show the practice's audit shards, or raise their number")
    shards.add_argument(
        "--count",
        type=int,
        default=None,
        help=f"raise the number of shards to this (1-{MAX_SHARDS}; never lowered)",
    )

    keys = command("keys", _keys, "list the audit signing keys; write their public halves")
    keys.add_argument("--out", type=Path, default=None, help="a folder to write <id>.pem into")

    ack = command(
        "acknowledge-restore",
        _acknowledge_restore,
        "record a point-in-time restore of the table (signed, write-once)",
    )
    ack.add_argument(
        "--restore-point", required=True, help="the time the table was restored to (RFC 3339)"
    )
    ack.add_argument(
        "--by", required=True, help="the operator recording it (a name, e.g. ops:alex)"
    )


# ---- restore acknowledged ---------------------------------------------------------------


def _acknowledge_restore(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from tpm.services.audit_restore import acknowledge_restore

    try:
        point = datetime.fromisoformat(args.restore_point.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            "--restore-point must be an RFC 3339 time, e.g. 2026-12-07T03:00:00Z"
        ) from None
    with open_target(args) as target:
        try:
            ack = acknowledge_restore(
                target.runtime.audit,
                target.store,
                target.actor,
                by=args.by,
                restore_point=point,
            )
        except ValidationError:
            raise CliError("--by must be a short name (letters, digits, _.@:-)") from None
        except TpmError as exc:
            raise CliError(f"not recorded: {exc.message} {exc.details or ''}".strip()) from None
    heads = ", ".join(
        f"shard {a.shard}: {b.seq} -> {a.seq}" for a, b in zip(ack.after, ack.before, strict=True)
    )
    print(
        f"restore acknowledged for {args.practice}: events {ack.after_total + 1}-"
        f"{ack.before_total} lost (restore point {ack.restore_point}; heads before -> after:"
        f" {heads}); recorded by {ack.acknowledged_by} at {ack.acknowledged_at}"
    )
    return 0


# ---- verify -----------------------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        report = verify(target.store, _public_keys(target.runtime), target.runtime.audit.sink)
        if args.json:
            print(json.dumps(report.as_dict(), sort_keys=True))
        else:
            _print_report(report)
        if report.ok:
            # An acknowledged restore is said in the trail too, never a plain "intact".
            code = "intact_acknowledged_restore" if report.acknowledged_restores else "intact"
            target.record(AUDIT_VERIFIED, "audit_event", reason_code=code)
        else:
            # Appending to a damaged chain would build on the evidence; leave it as found.
            print(
                "nothing was written to the trail; copy the data directory before any repair"
                " (see docs/operations.md)",
                file=sys.stderr,
            )
    return 0 if report.ok else 1


def _print_report(report: VerifyReport) -> None:
    print(report.summary())
    for restore in report.acknowledged_restores:
        print(
            f"acknowledged restore: events {restore['lost_from_seq']}-{restore['lost_to_seq']}"
            f" lost (restore point {restore['restore_point']}; recorded by"
            f" {restore['acknowledged_by']} at {restore['acknowledged_at']}; sealed"
            f" checkpoints set aside: {restore['sealed_checkpoints_set_aside'] or 'none'})"
        )
    first = report.first_problem
    if first is None:
        return
    print(f"first problem: {first.kind} at seq {first.seq}: {first.detail}")
    for problem in report.problems[:_PROBLEMS_SHOWN]:
        print(f"  {problem.kind:<24} seq {problem.seq:<8} {problem.detail}")
    if len(report.problems) > _PROBLEMS_SHOWN:
        print(f"  … and {len(report.problems) - _PROBLEMS_SHOWN} more")


def _public_keys(runtime: Runtime) -> PublicKeys:
    """Every public key ever used to sign (local: the .pub.pem files beside the signing key;
    AWS: the published keys), so signatures from before a signing-key change still verify."""
    return runtime.audit.trusted_keys()


# ---- export -----------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CliError("--out must be a new or empty directory (exports never overwrite)")
    with open_target(args) as target:
        zone = ZoneInfo(get_practice(target.runtime.store, target.practice_id).timezone)
        start = _moment(args.start, zone, "--from", end_of_day=False)
        end = _moment(args.end, zone, "--to", end_of_day=True)
        if start is not None and end is not None and start >= end:
            raise CliError("--from must be before --to")
        manifests = export_all(
            target.store,
            start,
            end,
            out,
            signer=target.runtime.audit.signer,
            clock=target.runtime.clock,
        )
        report, _ = check_sets(export_folders([out]), trusted=_public_keys(target.runtime))
        # The files exist now, so the export is recorded whatever the re-check found.
        target.record(
            AUDIT_EXPORTED,
            "audit_event",
            reason_code="verified" if report.ok else "verify_failed",
        )
    count = sum(m.count for m in manifests)
    first = manifests[0]
    several = len(manifests) > 1
    span = f"seq {first.first_seq}..{first.last_seq}" if first.count else "no events"
    print(f"exported {count} event(s) ({f'{len(manifests)} shards' if several else span})")
    print(f"  range     {first.start or 'beginning'} .. {first.end or 'now'} (end excluded)")
    for manifest in manifests:
        part = out / f"shard-{manifest.shard:02d}" if several else out
        if several:
            span = f"seq {manifest.first_seq}..{manifest.last_seq}" if manifest.count else "none"
            print(f"  shard {manifest.shard}: {manifest.count} event(s) ({span})")
        print(f"  manifest  {part / MANIFEST}  (chain hashes, checkpoints, file SHA-256s)")
        print(f"  events    {part / EVENTS_JSONL}, {part / EVENTS_CSV}")
        checkpoints = len(manifest.checkpoints_in_range)
        print(f"  chain     head seq {manifest.head_seq}; {checkpoints} checkpoint(s) in range")
    print(f"export check: {report.summary()}")
    return 0 if report.ok else 1


def _moment(text: str | None, zone: ZoneInfo, flag: str, *, end_of_day: bool) -> datetime | None:
    """A bare date is a whole day in the practice's time zone: `--to 2026-12-31` includes
    the 31st. A date-time must carry its offset (RFC 3339)."""
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


# ---- checkpoint ---------------------------------------------------------------------------


def _checkpoint(args: argparse.Namespace) -> int:
    with open_runtime(args.data_dir) as runtime:
        if args.all:
            practice_ids = list(all_practice_ids(runtime.store))
        else:
            found = practice_id_for_slug(runtime.store, args.practice)
            if found is None:
                raise CliError(f"no practice with slug {args.practice!r}")
            practice_ids = [found]
        failed = 0
        for practice_id in practice_ids:
            label = get_practice(runtime.store, practice_id).slug
            try:
                cp = runtime.audit.checkpoint(runtime.store.practice(practice_id))
            except TpmError as exc:
                # One practice's broken chain must not keep the others unsigned.
                failed += 1
                print(f"{label}: FAILED: {exc.code}: {exc.message}", file=sys.stderr)
                continue
            if cp is None:
                print(f"{label}: no events yet, nothing to sign")
            else:
                print(f"{label}: checkpoint at seq {cp.seq} signed {cp.time} ({cp.key_id})")
    if failed:
        print(f"{failed} practice(s) failed; run `tpm audit verify` for each", file=sys.stderr)
    return 1 if failed else 0


# ---- verify-export (offline) ----------------------------------------------------------------


def _verify_export(args: argparse.Namespace) -> int:
    trusted = _trusted_keys(args.trusted_keys) if args.trusted_keys else None
    folders = export_folders(list(args.dirs))
    for folder in folders:
        if not (folder / MANIFEST).is_file():
            raise CliError(f"{folder} holds no {MANIFEST}: not an export")
    report, checks = check_sets(folders, trusted=trusted)
    if args.json:
        out = report.as_dict() | {
            "exports": [
                {
                    "dir": str(d),
                    "ok": c.report.ok,
                    "first_seq": c.manifest.first_seq if c.manifest else None,
                    "last_seq": c.manifest.last_seq if c.manifest else None,
                    "signed_by": c.signed_by,
                }
                for d, c in zip(folders, checks, strict=True)
            ]
        }
        print(json.dumps(out, sort_keys=True))
    else:
        for folder, check in zip(folders, checks, strict=True):
            m = check.manifest
            span = f"seq {m.first_seq}..{m.last_seq}" if m and m.count else "no events"
            who = check.signed_by or "NO VALID SIGNATURE"
            state = "ok" if check.report.ok else "FAILED"
            print(f"{folder}: {state}, {span}, manifest signed by {who}")
        _print_report(report)
        if trusted is None:
            print(
                "keys: the public keys that travel with the export were used; compare the"
                " key ids above with the published ones, or pass --trusted-keys"
            )
    return 0 if report.ok else 1


def _trusted_keys(folder: Path) -> PublicKeys:
    if not folder.is_dir():
        raise CliError(f"--trusted-keys: {folder} is not a folder")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from tpm.security.audit_checkpoints import key_id_for

    keys = {}
    for pem in sorted(folder.glob("*.pem")):
        key = serialization.load_pem_public_key(pem.read_bytes())
        if isinstance(key, Ed25519PublicKey):
            keys[key_id_for(key)] = key
    listed = folder / "public_keys.json"
    if listed.is_file():
        keys |= load_keys_json(listed.read_bytes())
    if not keys:
        raise CliError(f"--trusted-keys: no Ed25519 public keys in {folder}")
    return keys


# ---- shards ---------------------------------------------------------------------------------


def _shards(args: argparse.Namespace) -> int:
    """A busy practice's audited requests spread over several chains (docs/operations.md,
    'Audit shards'). Raising the count is an audit settings change, recorded as such."""
    from tpm.security.audit_layout import read_heads

    with open_target(args) as target:
        if args.count is not None:
            event = target.event(
                AUDIT_SETTINGS_CHANGED, "practice", "audit_shards", reason_code="changed"
            )
            target.runtime.audit.open_shards(target.store, args.count, event)
        heads = read_heads(target.store)
    for shard, head in sorted(heads.items()):
        print(f"shard {shard:<2} seq {head.seq:<8} newest event {head.time}")
    print(f"{max(len(heads), 1)} shard(s)")
    return 0


# ---- keys -----------------------------------------------------------------------------------


def _keys(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import serialization

    with open_runtime(args.data_dir) as runtime:
        keys = runtime.audit.trusted_keys()
        current = runtime.audit.signer.key_id
    if args.out is not None:
        args.out.mkdir(mode=0o700, parents=True, exist_ok=True)
    for key_id, key in sorted(keys.items()):
        print(f"{key_id}{'  (signing now)' if key_id == current else ''}")
        if args.out is not None:
            pem = key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            (args.out / f"{key_id.replace(':', '_')}.pem").write_bytes(pem)
    return 0


# ---- archive ----------------------------------------------------------------------------------


def _archive(args: argparse.Namespace) -> int:
    from tpm.security.principal import SystemActor
    from tpm.services.audit_archive import archive_practice

    with open_runtime(args.data_dir) as runtime:
        practice_ids = _practices(runtime, args)
        failed = 0
        for practice_id in practice_ids:
            label = get_practice(runtime.store, practice_id).slug
            actor = SystemActor(OPERATOR, practice_id, request_id=f"cli-{uuid.uuid4()}")
            try:
                segments = archive_practice(runtime, practice_id, actor)
            except TpmError as exc:
                failed += 1
                print(f"{label}: FAILED: {exc.code}: {exc.message}", file=sys.stderr)
                continue
            if not segments:
                print(f"{label}: nothing new to archive")
            for segment in segments:
                print(
                    f"{label}: archived seq {segment.first_seq}..{segment.last_seq} ({segment.key})"
                )
    return 1 if failed else 0


def _fetch_archive(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CliError("--out must be a new or empty directory")
    with open_target(args) as target:
        keys = target.runtime.archive.keys(target.practice_id)
        folders: set[Path] = set()
        for key in keys:
            # <practice>/[s<shard>/]<first>-<last>/<file>
            segment, name = key.split("/", 1)[1].rsplit("/", 1)
            folder = out / segment
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            (folder / name).write_bytes(target.runtime.archive.get(key))
            folders.add(folder)
        target.record(AUDIT_EXPORTED, "audit_event", reason_code="archive_fetched")
    print(f"copied {len(folders)} segment(s) into {out}")
    if folders:
        shards = " ".join(sorted({f"{out}/{f.parent.name}/*" for f in folders if f.parent != out}))
        print(f"check them offline: tpm audit verify-export {out}/[0-9]* {shards}".rstrip())
    return 0


def _practices(runtime: Runtime, args: argparse.Namespace) -> list[str]:
    if args.all:
        return list(all_practice_ids(runtime.store))
    found = practice_id_for_slug(runtime.store, args.practice)
    if found is None:
        raise CliError(f"no practice with slug {args.practice!r}")
    return [found]
