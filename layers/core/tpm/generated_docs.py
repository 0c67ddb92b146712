"""Docs with generated parts (the permission table, the template library): the text between
two HTML-comment markers is rendered from code, and a test fails when it is stale."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def replace_generated(document: str, rendered: str, begin: str, end: str) -> str:
    """`document` with the text between the markers replaced by `rendered`."""
    if document.count(begin) != 1 or document.count(end) != 1:
        raise ValueError(f"the document needs exactly one {begin} and one {end}")
    start = document.index(begin) + len(begin)
    stop = document.index(end)
    if stop < start:
        raise ValueError(f"{end} comes before {begin}")
    return document[:start] + "\n" + rendered + document[stop:]


def run(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    render: Callable[[], str],
    begin: str,
    end: str,
) -> int:
    """`--write DOC` updates the generated part, `--check DOC` exits 1 when it is stale,
    no option prints the rendered text."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", type=Path, metavar="DOC", help="update the generated part")
    mode.add_argument("--check", type=Path, metavar="DOC", help="exit 1 if DOC is stale")
    args = parser.parse_args(argv)
    rendered = render()
    target: Path | None = args.write or args.check
    if target is None:
        sys.stdout.write(rendered)
        return 0
    current = target.read_text(encoding="utf-8")
    updated = replace_generated(current, rendered, begin, end)
    if args.check:
        if updated != current:
            print(f"{target} is stale: run {prog} --write {target}", file=sys.stderr)
            return 1
        return 0
    if updated != current:
        target.write_text(updated, encoding="utf-8")
        print(f"updated {target}")
    return 0
