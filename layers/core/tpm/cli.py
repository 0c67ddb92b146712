"""`tpm` command line: the local product and operator tasks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def project_root() -> Path:
    """The checkout holding template.yaml (the package lives in layers/core/tpm)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "template.yaml").is_file():
            return parent
    return Path.cwd()


def main(argv: Sequence[str] | None = None) -> int:
    # Operator commands live in tpm.local.cli_*; each registers its own subcommands and
    # puts its handler on the parsed arguments.
    from tpm.local import (
        cli_audit,
        cli_billing,
        cli_compliance,
        cli_keys,
        cli_messaging,
        cli_practice,
        cli_reminders,
        cli_users,
        cli_workflows,
    )
    from tpm.local.cli_common import run

    parser = argparse.ArgumentParser(prog="tpm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the API and portal locally (SQLite, local keys)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--data-dir", type=Path, default=Path(".tpm"))
    dev.add_argument(
        "--new-keys",
        action="store_true",
        help="allow creating keys for a data directory that already holds a database"
        " (throwaway data only: the old records cannot be read with new keys)",
    )

    dev.add_argument(
        "--sign-in-attempts-per-address",
        type=int,
        default=50,
        metavar="N",
        help="sign-in attempts allowed per source address per 5 minutes (default 50; every"
        " browser on this machine is 127.0.0.1)",
    )

    openapi = sub.add_parser("openapi", help="build the OpenAPI document from the resolvers")
    openapi.add_argument("--write", action="store_true", help="write schemas/openapi.json")
    openapi.add_argument("--check", action="store_true", help="fail if the committed copy is stale")

    for module in (
        cli_practice,
        cli_users,
        cli_audit,
        cli_compliance,
        cli_keys,
        cli_reminders,
        cli_billing,
        cli_messaging,
        cli_workflows,
    ):
        module.register(sub)

    args = parser.parse_args(argv)
    if args.command == "dev":
        from tpm.local.dev import run_dev

        return run_dev(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            root=project_root(),
            new_keys=args.new_keys,
            sign_in_attempts_per_address=args.sign_in_attempts_per_address,
        )
    if args.command == "openapi":
        return _openapi(write=args.write, check=args.check)
    return run(args.handler, args)


def _openapi(*, write: bool, check: bool) -> int:
    from tpm.local.openapi import build_document, render

    root = project_root()
    text = render(build_document(root))
    target = root / "schemas" / "openapi.json"
    if check:
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            print("schemas/openapi.json is stale: run `tpm openapi --write`", file=sys.stderr)
            return 1
        return 0
    if write:
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
