"""Imports point one way: app -> components -> access -> warehouse -> base (see docs/architecture.md).

Every import statement counts, including the ones inside functions: a lazy import is still a
dependency, it only hides the cycle until run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What each of our top-level packages may import (besides itself). Anything of ours not listed is
# refused; third-party and standard-library imports are not this test's business.
ALLOWED: dict[str, set[str]] = {
    "lookout": set(),
    "warehouse": {"lookout"},
    "access": {"lookout", "warehouse"},
    "collector": {"lookout", "access"},
    "pipeline": {"lookout", "warehouse"},
    "alerts": {"lookout", "warehouse", "access"},
    "dashboards": {"lookout", "warehouse", "access", "alerts"},
    "app": {"lookout", "warehouse", "access", "collector", "pipeline", "alerts", "dashboards", "lookout_client"},
    "lookout_client": set(),
}
PACKAGE_DIRS = {name: ROOT / name for name in ALLOWED}
PACKAGE_DIRS["lookout_client"] = ROOT / "clients" / "python" / "lookout_client"


def imported_packages(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside the package it is written in
                found.append((node.lineno, package))
            elif node.module:
                found.append((node.lineno, node.module.split(".")[0]))
    return found


def violations(package: str, directory: Path) -> list[str]:
    out = []
    for path in sorted(directory.rglob("*.py")):
        for line, imported in imported_packages(path, package):
            if imported in ALLOWED and imported != package and imported not in ALLOWED[package]:
                out.append(f"{path.relative_to(directory.parent)}:{line} imports {imported}")
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package: str) -> None:
    directory = PACKAGE_DIRS[package]
    assert directory.is_dir(), f"{directory} is missing: update the layer map"
    assert violations(package, directory) == []


def test_the_map_has_no_cycle() -> None:
    # A cycle in ALLOWED would make "one way" meaningless whatever the code does.
    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in ALLOWED[start])

    assert [name for name in ALLOWED if reaches(name, name, set())] == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("import warehouse.tables\ndef f():\n    from app.cli import main\n")
    assert violations("lookout", tmp_path) == [
        f"{tmp_path.name}/bad.py:1 imports warehouse",
        f"{tmp_path.name}/bad.py:3 imports app",
    ]
