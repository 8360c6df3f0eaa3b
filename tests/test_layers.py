"""Layers import downward only: interfaces (cli, web) → services → core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fairtrain"
RANK = {"core": 0, "services": 1, "cli": 2, "web": 2}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "fairtrain" and parts[1] in RANK else None


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


FILES = sorted(p for p in SRC.rglob("*.py") if _layer("fairtrain." + ".".join(p.relative_to(SRC).parts)))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_modules_import_only_their_own_layer_or_below(path):
    own = _layer("fairtrain." + ".".join(path.relative_to(SRC).parts))
    upward = [m for m in _imports(path) if (lay := _layer(m)) and RANK[lay] > RANK[own]]
    assert not upward, f"{path.relative_to(SRC)} ({own}) imports upward: {upward}"


def test_the_layer_check_sees_the_tree():
    assert len(FILES) > 10
