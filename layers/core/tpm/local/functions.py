"""Load the same handler modules Lambda would load, straight from functions/<name>/."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from tpm.local.template import FunctionSpec


def load_module(spec: FunctionSpec, root: Path) -> ModuleType:
    """Import functions/<dir>/<module>.py under a unique name (every function's file is
    called app.py, so plain imports would collide)."""
    module_file, _, _ = spec.handler.rpartition(".")
    path = (root / spec.code_uri / f"{module_file}.py").resolve()
    name = f"tpm_functions.{spec.logical_id}"
    if name in sys.modules:
        return sys.modules[name]
    import_spec = importlib.util.spec_from_file_location(name, path)
    if import_spec is None or import_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(import_spec)
    sys.modules[name] = module
    try:
        import_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_handler(spec: FunctionSpec, root: Path) -> Callable[[dict[str, Any], Any], Any]:
    module = load_module(spec, root)
    attribute = spec.handler.rpartition(".")[2]
    handler = getattr(module, attribute)
    if not callable(handler):
        raise TypeError(f"{spec.logical_id}: {spec.handler} is not callable")
    return handler  # type: ignore[no-any-return]
