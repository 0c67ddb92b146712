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
    parser = argparse.ArgumentParser(prog="tpm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the API and portal locally (SQLite, local keys)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--data-dir", type=Path, default=Path(".tpm"))

    openapi = sub.add_parser("openapi", help="build the OpenAPI document from the resolvers")
    openapi.add_argument("--write", action="store_true", help="write schemas/openapi.json")
    openapi.add_argument("--check", action="store_true", help="fail if the committed copy is stale")

    keys = sub.add_parser("keys", help="key management")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_sub.add_parser("rotate", help="re-wrap every data key under a new master key")
    rotate.add_argument("--data-dir", type=Path, default=Path(".tpm"))
    rotate.add_argument("--to", default=None, help="target KMS key (kms:// deployments)")

    args = parser.parse_args(argv)
    if args.command == "dev":
        from tpm.local.dev import run_dev

        return run_dev(host=args.host, port=args.port, data_dir=args.data_dir, root=project_root())
    if args.command == "openapi":
        return _openapi(write=args.write, check=args.check)
    if args.command == "keys":
        return _rotate(args.data_dir, args.to)
    parser.error("unknown command")
    return 2


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


def _rotate(data_dir: Path, to: str | None) -> int:
    from tpm.config import get_settings
    from tpm.local.bootstrap import export_settings, local_settings
    from tpm.runtime import build_runtime
    from tpm.services.key_rotation import rotate_master_key
    from tpm.services.practices import all_practice_ids

    settings = get_settings()
    if settings.environment == "local":
        settings = local_settings(data_dir)
        export_settings(settings)
    runtime = build_runtime(settings)
    report = rotate_master_key(
        runtime.store, runtime.master_key, list(all_practice_ids(runtime.store)), to
    )
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
