"""The built deploy artifact, checked and measured (run by `scripts/build-check`).

`sam build` leaves one folder per function and layer under its build dir. This module

1. imports every function the way Lambda would, from the built artifact alone: a fresh
   `python -I -S -B` (no site-packages, no PYTHON* variables, nothing from this checkout,
   no bytecode written into the artifact) with the function's folder and the built
   layers' `python/` folders on `sys.path`, the template's environment (Globals and the
   function's own variables, intrinsic functions resolved to well-formed stand-ins) and
   fake AWS credentials. It imports the handler module, gets the handler and validates the
   environment with `tpm.config`: a missing dependency, a module left out of a layer or an
   environment the code refuses all fail here instead of on the first request. The Lambda
   build's dependency layer (arm64, Python 3.12 wheels) cannot be imported on another
   machine, so imports use the same function and core-layer folders with a dependency
   layer built by the same Makefile from this machine's wheels of the same pins
   (`--host-deps`);
2. reports each function's unzipped size with its layers against Lambda's 250 MB limit,
   measured on the Lambda build (`--target`).

Exit status 1 when a function fails to import or is over the limit. Figures go to stdout
and to benchmarks/results/build_size.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT
from tpm.local.template import functions, load_template

LIMIT_MB = 250.0  # Lambda: function + layers, unzipped
RESULTS = ROOT / "benchmarks" / "results" / "build_size.json"
ACCOUNT = "123456789012"
REGION = "us-east-1"

# Stand-ins a deployed stack would have: real shapes, nothing that can connect anywhere.
_ATTRIBUTES = {
    "Arn": "arn:aws:{kind}:us-east-1:123456789012:{name}",
    "QueueName": "{name}",
}


def _sample_parameter(name: str, spec: dict[str, Any]) -> str:
    if "Default" in spec and str(spec["Default"]) != "":
        return str(spec["Default"])
    samples = {
        "PortalUrl": "https://portal.example.test/",
        "ReminderFromAddress": "reminders@example.test",
        "PortalEdgeSecret": "e" * 40,
        "InboundSmsTopicArn": "arn:aws:sns:us-east-1:123456789012:tpm-sms-inbound",
    }
    return samples.get(name, f"sample-{name.lower()}")


def resolve(value: Any, template: dict[str, Any], physical: Mapping[str, str] | None = None) -> Any:
    """An intrinsic function's value in a stack made from the template's defaults.
    `physical` names real values: a parameter or resource by its logical id (what `Ref`
    gives), or `Resource.Attribute` (what `GetAtt` gives); others get stand-ins."""
    names: Mapping[str, str] = physical or {}
    if isinstance(value, str | int | bool | float):
        return str(value)
    if isinstance(value, list):
        return [resolve(v, template, names) for v in value]
    if not isinstance(value, dict):
        raise ValueError(f"cannot resolve {value!r}")
    if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
        return {k: resolve(v, template, names) for k, v in value.items()}  # plain properties
    ((kind, arg),) = value.items()
    if kind == "Ref":
        return names.get(str(arg)) or _ref(str(arg), template)
    if kind == "Fn::GetAtt":
        name, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
        if f"{name}.{attribute}" in names:
            return names[f"{name}.{attribute}"]
        kind = str(template["Resources"].get(name, {}).get("Type", "AWS::X::Y"))
        service = kind.split("::")[1].lower()
        pattern = _ATTRIBUTES.get(attribute, "{name}-" + attribute.lower())
        return pattern.format(kind=service, name=name)
    if kind == "Fn::If":
        condition, when_true, when_false = arg
        chosen = when_true if _condition(condition, template) else when_false
        return resolve(chosen, template, names)
    if kind == "Fn::Sub":
        text, subs = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: resolve(v, template, names) for k, v in subs.items()}

        def one(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in local:
                return str(local[key])
            if "." in key:
                name, attribute = key.split(".", 1)
                return str(resolve({"Fn::GetAtt": [name, attribute]}, template, names))
            return str(resolve({"Ref": key}, template, names))

        return re.sub(r"\$\{([^}!]+)\}", one, text)
    raise ValueError(f"unsupported intrinsic {kind}")


def _ref(name: str, template: dict[str, Any]) -> str:
    pseudo = {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::StackName": "tpm",
        "AWS::URLSuffix": "amazonaws.com",
    }
    if name in pseudo:
        return pseudo[name]
    parameters = template.get("Parameters") or {}
    if name in parameters:
        return _sample_parameter(name, parameters[name])
    if name == "UserPool":
        return f"{REGION}_SamplePool"
    return name


def _condition(name: str, template: dict[str, Any]) -> bool:
    """Conditions are judged for the default parameters (e.g. CreatePhiKey: true)."""
    definition = (template.get("Conditions") or {})[name]
    return bool(_evaluate(definition, template))


def _evaluate(node: Any, template: dict[str, Any]) -> Any:
    if isinstance(node, dict) and len(node) == 1:
        ((kind, arg),) = node.items()
        if kind == "Fn::Equals":
            return _evaluate(arg[0], template) == _evaluate(arg[1], template)
        if kind == "Fn::Not":
            return not _evaluate(arg[0], template)
        if kind == "Fn::And":
            return all(_evaluate(a, template) for a in arg)
        if kind == "Fn::Or":
            return any(_evaluate(a, template) for a in arg)
        if kind == "Condition":
            return _condition(arg, template)
        if kind == "Ref":
            spec = (template.get("Parameters") or {}).get(arg)
            return str(spec.get("Default", "")) if spec else _ref(arg, template)
    return resolve(node, template)


def function_environment(
    template: dict[str, Any], logical_id: str, physical: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Globals' variables overlaid with the function's own, every value resolved."""
    merged: dict[str, Any] = {}
    globals_env = ((template.get("Globals") or {}).get("Function") or {}).get("Environment")
    merged.update((globals_env or {}).get("Variables") or {})
    props = template["Resources"][logical_id].get("Properties", {})
    merged.update(((props.get("Environment") or {}).get("Variables")) or {})
    return {key: str(resolve(value, template, physical)) for key, value in merged.items()}


@dataclass(frozen=True)
class Built:
    name: str
    handler: str
    folder: Path  # the built function
    layers: tuple[Path, ...]  # the built layers, each with python/ inside


def built_functions(build_dir: Path, template: dict[str, Any]) -> list[Built]:
    layer_refs = ((template.get("Globals") or {}).get("Function") or {}).get("Layers") or []
    found = []
    for spec in functions(template):
        props = template["Resources"][spec.logical_id]["Properties"]
        refs = props.get("Layers", layer_refs)
        layers = tuple(build_dir / str(r["Ref"]) for r in refs)
        found.append(Built(spec.logical_id, spec.handler, build_dir / spec.logical_id, layers))
    return found


_CHILD = """
import importlib, sys
sys.path[:0] = {paths!r}
module = importlib.import_module({module!r})
handler = getattr(module, {attribute!r})
assert callable(handler), "handler is not callable"
from tpm.config import settings_from_env
settings_from_env()
import tpm
assert tpm.__file__.startswith({core!r}), tpm.__file__
"""


def import_problem(built: Built, env: dict[str, str], scratch: Path) -> str | None:
    """None when the function imports from its built folders alone; else the last line of
    the error."""
    module, _, attribute = built.handler.rpartition(".")
    paths = [str(built.folder), *(str(layer / "python") for layer in built.layers)]
    code = _CHILD.format(
        paths=paths, module=module, attribute=attribute, core=str(built.layers[0] / "python")
    )
    child_env = {
        **env,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(scratch / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws-credentials"),
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    result = subprocess.run(
        [_base_python(), "-I", "-S", "-B", "-c", code],
        cwd=built.folder,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode == 0:
        return None
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.returncode}"


def _base_python() -> str:
    """The interpreter under the venv: -S then leaves out every site-packages."""
    return getattr(sys, "_base_executable", sys.executable)


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.build_check")
    parser.add_argument("--target", type=Path, required=True, help="the Lambda build dir")
    parser.add_argument(
        "--host-deps", type=Path, required=True, help="DepsLayer built for this machine"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    template = load_template(ROOT / "template.yaml")
    host_deps = args.host_deps.resolve()
    scratch = host_deps.parent / "import-check"
    scratch.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    failed = False
    sizes: dict[Path, int] = {}
    for target in built_functions(args.target.resolve(), template):
        layers = tuple(host_deps if p.name == "DepsLayer" else p for p in target.layers)
        host = Built(target.name, target.handler, target.folder, layers)
        problem = import_problem(host, function_environment(template, host.name), scratch)
        parts = [target.folder, *target.layers]
        for part in parts:
            sizes.setdefault(part, tree_size(part))
        megabytes = sum(sizes[p] for p in parts) / 1_000_000
        over = megabytes > LIMIT_MB
        failed = failed or over or problem is not None
        rows.append(
            {
                "function": target.name,
                "unzipped_mb": round(megabytes, 1),
                "code_kb": round(sizes[target.folder] / 1000, 1),
                "limit_mb": LIMIT_MB,
                "share_of_limit": round(megabytes / LIMIT_MB, 3),
                "imports": problem is None,
                "import_error": problem,
            }
        )
    layer_rows = {
        part.name: round(size / 1_000_000, 1)
        for part, size in sizes.items()
        if part.name.endswith("Layer")
    }
    print(f"{'function':<26} {'unzipped':>10} {'of 250 MB':>9} {'code':>9}  import")
    for row in rows:
        status = "ok" if row["imports"] else f"FAILED: {row['import_error']}"
        print(
            f"{row['function']:<26} {row['unzipped_mb']:>7.1f} MB {row['share_of_limit']:>8.0%}"
            f" {row['code_kb']:>6.1f} kB  {status}"
        )
    print("layers: " + ", ".join(f"{name} {mb:.1f} MB" for name, mb in sorted(layer_rows.items())))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "at": datetime.now(UTC).isoformat(),
                "python": sys.version.split()[0],
                "functions": rows,
                "layers_mb": layer_rows,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
