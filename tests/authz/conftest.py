from __future__ import annotations

from pathlib import Path

import pytest
from world import World, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, project_root: Path) -> World:
    return build_world(tmp_path_factory.mktemp("world"), project_root)
