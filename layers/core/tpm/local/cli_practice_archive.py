"""`tpm practice export | import | verify-archive`: the operator's whole-practice archive.

  tpm practice export --out FILE [--data-dir D] [--practice SLUG] [--passphrase-file F]
  tpm practice import FILE [--data-dir D] [--passphrase-file F]
  tpm practice verify-archive FILE [--passphrase-file F]

Thin over tpm.services.practice_archive. Every line printed is counts and ids, never PHI.
Exit 0 on success; 1 with one line on stderr when the archive is refused (nothing was
imported), the practice is not empty, or the passphrase is wrong.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import uuid
from pathlib import Path

from tpm.config import get_settings
from tpm.local.bootstrap import local_settings, prepare_data_dir
from tpm.local.cli_common import OPERATOR, CliError, Handler, add_data_dir, add_target, open_target
from tpm.runtime import Runtime, build_runtime
from tpm.security.principal import SystemActor
from tpm.services.practice_archive import (
    ArchiveSummary,
    export_practice,
    import_practice,
    verify_archive,
)

PASSPHRASE_ENV = "TPM_ARCHIVE_PASSPHRASE"  # noqa: S105 - the variable's name


def register(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    out = cmds.add_parser("export", help="write the whole practice as an encrypted archive")
    add_target(out)
    out.add_argument("--out", type=Path, required=True, help="the archive file to create")
    _common(out, _export)

    into = cmds.add_parser("import", help="restore an archive into an empty stack or data dir")
    add_data_dir(into)
    into.add_argument("archive", type=Path)
    _common(into, _import)

    check = cmds.add_parser("verify-archive", help="check an archive offline (no stack needed)")
    check.add_argument("archive", type=Path)
    _common(check, _verify)


def _common(parser: argparse.ArgumentParser, handler: Handler) -> None:
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        help=f"a file holding the archive passphrase (else ${PASSPHRASE_ENV}, else a prompt)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=handler)


def _passphrase(args: argparse.Namespace, *, confirm: bool) -> str:
    if args.passphrase_file is not None:
        try:
            return str(args.passphrase_file.read_text(encoding="utf-8").rstrip("\n"))
        except OSError as exc:
            raise CliError(f"cannot read {args.passphrase_file}") from exc
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    first = getpass.getpass("archive passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise CliError("the passphrases differ")
    return first


def _export(args: argparse.Namespace) -> int:
    passphrase = _passphrase(args, confirm=True)
    with open_target(args) as target:
        summary = export_practice(
            target.runtime, target.practice_id, args.out, passphrase, target.actor
        )
    _print(summary, args, f"exported to {args.out}")
    return 0


def _import(args: argparse.Namespace) -> int:
    passphrase = _passphrase(args, confirm=False)
    request_id = f"cli-{uuid.uuid4().hex}"
    runtime = _target_runtime(args.data_dir)
    try:
        summary = import_practice(
            runtime,
            args.archive,
            passphrase,
            lambda practice_id: SystemActor(OPERATOR, practice_id, request_id),
        )
    finally:
        runtime.store.close()
    _print(summary, args, "imported")
    return 0


def _verify(args: argparse.Namespace) -> int:
    summary = verify_archive(args.archive, _passphrase(args, confirm=False))
    _print(summary, args, "archive intact" if summary.chain.get("ok") else "archive DAMAGED")
    return 0 if summary.chain.get("ok") else 1


def _target_runtime(data_dir: Path) -> Runtime:
    """The stack to restore into: a local data dir (created when missing: a fresh one is
    the usual target) or, with TPM_ENV=aws, the deployed stack the environment names."""
    settings = get_settings()
    if settings.environment == "local":
        prepare_data_dir(data_dir)
        settings = local_settings(data_dir, portal_url=settings.portal_url)
    return build_runtime(settings)


def _print(summary: ArchiveSummary, args: argparse.Namespace, headline: str) -> None:
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2, sort_keys=True))
        return
    chain = summary.chain
    print(f"{headline}: archive {summary.archive_id}, practice {summary.practice_id}")
    print(
        f"  {summary.items} items, {summary.data_keys} data keys, {summary.files} files,"
        f" {summary.system_rows} directory rows, {summary.archive_bytes} bytes"
    )
    state = "verifies" if chain.get("ok") else f"FAILS: {chain.get('first_problem')}"
    print(
        f"  audit chain {state}: {chain.get('events')} events, head seq {chain.get('head_seq')},"
        f" {chain.get('sealed_checkpoints')} sealed checkpoints, {summary.public_keys} signing keys"
    )
