"""Where a handler's import time goes, from `python -X importtime`.

Used by the cold-init benchmark to explain a function that is over target: which third-party
packages it loads that the baseline handler does not, and which first-party (tpm) modules
pull them in — the candidates for a lazy import. importtime inflates absolute numbers;
read them as proportions.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)\s*$")
# __import__, not importlib.import_module: only the former is reported by -X importtime.
_CHILD = "import sys; sys.path.insert(0, sys.argv[1]); __import__(sys.argv[2])"
FIRST_PARTY = ("tpm", "app")  # our package and the handler module itself


@dataclass
class ImportCost:
    module: str
    self_us: int
    cumulative_us: int
    depth: int
    children: list[ImportCost] = field(default_factory=list)

    @property
    def package(self) -> str:
        return self.module.split(".", 1)[0]


def parse(stderr: str) -> list[ImportCost]:
    """Every import in the order Python finished it (children before their parent)."""
    costs: list[ImportCost] = []
    pending: dict[int, list[ImportCost]] = defaultdict(list)
    for line in stderr.splitlines():
        found = _LINE.match(line)
        if not found:
            continue
        depth = (len(found.group(3)) - 1) // 2
        cost = ImportCost(found.group(4), int(found.group(1)), int(found.group(2)), depth)
        cost.children = pending.pop(depth + 1, [])
        pending[depth].append(cost)
        costs.append(cost)
    return costs


def profile(
    python: str, code_dir: Path, module: str, env: Mapping[str, str], timeout: float = 120
) -> list[ImportCost]:
    done = subprocess.run(
        [python, "-X", "importtime", "-c", _CHILD, str(code_dir), module],
        cwd=code_dir,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import of {module} failed under -X importtime")
    return parse(done.stderr)


def self_ms_by_package(costs: Sequence[ImportCost]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for cost in costs:
        totals[cost.package] += cost.self_us / 1000
    return dict(totals)


def explain(
    module: str, function: Sequence[ImportCost], baseline: Sequence[ImportCost], top: int = 8
) -> list[str]:
    """Readable lines: what the function imports beyond the baseline, and from where."""
    total = sum(c.self_us for c in function) / 1000
    base_total = sum(c.self_us for c in baseline) / 1000
    lines = [f"all imports {total:.1f} ms vs baseline {base_total:.1f} ms (self times summed)"]
    root = next((c for c in function if c.depth == 0 and c.module == module), None)
    if root is not None:
        direct = sorted(root.children, key=lambda c: c.cumulative_us, reverse=True)[:top]
        lines.append(
            f"direct imports of {module} (cumulative): "
            + ", ".join(f"{c.module} {c.cumulative_us / 1000:.1f} ms" for c in direct)
        )
    fn_pkgs, base_pkgs = self_ms_by_package(function), self_ms_by_package(baseline)
    extra = sorted(
        ((pkg, ms - base_pkgs.get(pkg, 0.0)) for pkg, ms in fn_pkgs.items()),
        key=lambda item: item[1],
        reverse=True,
    )
    lines.append(
        "packages beyond the baseline (self time summed): "
        + ", ".join(
            f"{pkg} +{ms:.1f} ms{'' if pkg in base_pkgs else ' (new)'}"
            for pkg, ms in extra[:top]
            if ms >= 1.0
        )
    )
    lines.extend(_first_party_pulls(function, top))
    return lines


def _first_party_pulls(costs: Sequence[ImportCost], top: int) -> list[str]:
    """First-party modules whose own import statements first load heavy third-party code
    (the lines to make lazy), summed per (module, package)."""
    pulls: dict[tuple[str, str], int] = defaultdict(int)
    for cost in costs:
        if cost.package not in FIRST_PARTY:
            continue
        for child in cost.children:
            if child.package not in FIRST_PARTY:
                pulls[(cost.module, child.package)] += child.cumulative_us
    heavy = sorted(
        ((us, f"{m} -> {p}") for (m, p), us in pulls.items() if us >= 2000), reverse=True
    )
    return [f"first-party import {what}: {us / 1000:.1f} ms" for us, what in heavy[:top]]
