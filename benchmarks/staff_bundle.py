"""staff_bundle — what a browser downloads to start the staff app (target ≤ 150 KB gzip).

The staff app is plain ES modules (no bundling of our own code) plus esbuild-bundled
third-party files in portal/staff/vendor/. **Initial JS** is the static import graph of
portal/staff/js/main.js — every module the browser must fetch before the first screen —
each file gzipped on its own (as a server sends it) and summed. Screens and vendor files
reached only through `import()` load on first use; each is listed with what it adds
beyond the initial graph.

**Baseline**: the budget itself, 150 KB gzipped (the ratio is the share used). The patient
portal's initial JS is printed beside it, measured the same way in the same run.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from benchmarks.common import Figure, Options, Outcome, Stats

NAME = "staff_bundle"
BUDGET_KB = 150.0
STATIC = re.compile(r"""(?:^|\n)\s*(?:import|export)\s[^;'"]*?from\s*["']([^"']+)["']""")
BARE = re.compile(r"""(?:^|\n)\s*import\s*["']([^"']+)["']""")
DYNAMIC = re.compile(r"""import\(\s*["']([^"']+)["']\s*\)""")
COMMENTS = re.compile(r"/\*.*?\*/|^\s*//[^\n]*", re.S | re.M)


def _resolve(site: Path, base: Path, spec: str) -> Path:
    if spec.startswith("/"):
        return (site / spec.lstrip("/")).resolve()
    return (base.parent / spec).resolve()


def graph(site: Path, entry: Path) -> tuple[set[Path], set[Path]]:
    """(modules reached by static imports from entry, targets of dynamic imports seen)."""
    seen: set[Path] = set()
    lazy: set[Path] = set()
    todo = [entry.resolve()]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        text = COMMENTS.sub("", path.read_text("utf-8"))
        for spec in STATIC.findall(text) + BARE.findall(text):
            todo.append(_resolve(site, path, spec))
        for spec in DYNAMIC.findall(text):
            lazy.add(_resolve(site, path, spec))
    return seen, lazy


def gzip_kb(paths: set[Path]) -> float:
    return sum(len(gzip.compress(p.read_bytes(), 9)) for p in paths) / 1024


def measure(site: Path) -> dict[str, object]:
    entry = site / "staff" / "js" / "main.js"
    initial, lazy = graph(site, entry)
    chunks: dict[str, float] = {}
    pending = sorted(lazy)
    done: set[Path] = set()
    while pending:
        target = pending.pop()
        if target in done:
            continue
        done.add(target)
        reached, more = graph(site, target)
        chunks[str(target.relative_to(site))] = gzip_kb(reached - initial)
        pending.extend(sorted(more - done))
    portal, _ = graph(site, site / "js" / "main.js")
    return {
        "initial_kb": gzip_kb(initial),
        "initial_files": len(initial),
        "initial_raw_kb": sum(p.stat().st_size for p in initial) / 1024,
        "lazy_kb": chunks,
        "portal_kb": gzip_kb(portal),
        "vendor_kb": {
            p.name: len(gzip.compress(p.read_bytes(), 9)) / 1024
            for p in sorted((site / "staff" / "vendor").glob("*"))
        },
    }


def benchmark(options: Options) -> Outcome:
    site = options.root / "portal"
    data = measure(site)
    initial = float(data["initial_kb"])  # type: ignore[arg-type]
    budget = Stats.of([BUDGET_KB])
    outcome = Outcome(NAME, details=data)
    outcome.figures.append(
        Figure(
            "staff app initial JS (gzip KB)",
            "KB",
            Stats.of([initial]),
            budget,
            "budget 150 KB",
            target=1.0,
        )
    )
    outcome.figures.append(
        Figure(
            "patient portal initial JS (gzip KB)",
            "KB",
            Stats.of([float(data["portal_kb"])]),  # type: ignore[arg-type]
            budget,
            "budget 150 KB",
        )
    )
    outcome.notes.append(
        f"initial: {data['initial_files']} modules, {float(data['initial_raw_kb']):.1f} KB raw"  # type: ignore[arg-type]
    )
    lazy = data["lazy_kb"]
    assert isinstance(lazy, dict)
    for name, kb in sorted(lazy.items(), key=lambda kv: -kv[1]):
        outcome.notes.append(f"on first use: {name} +{kb:.1f} KB gzip")
    return outcome
