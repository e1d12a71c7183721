"""Every third-party module the platform imports is installed by setup.cfg's install_requires.

The development virtualenv holds more than the platform declares (dev extras, packages installed by
hand), so a missing runtime dependency passes every other test here and only fails on a fresh
machine. This test reads the declaration instead of the environment.
"""

from __future__ import annotations

import ast
import configparser
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_PACKAGES = ("lookout", "warehouse", "access", "collector", "pipeline", "dashboards", "alerts", "app")


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def declared_closure() -> set[str]:
    """install_requires and, transitively, what those distributions require (extras named included)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = [line.split("#")[0].strip() for line in config["options"]["install_requires"].splitlines()]
    todo = [line for line in lines if line]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = _name(requirement)
        extras = set(re.findall(r"\[([^\]]+)\]", requirement)[0].split(",")) if "[" in requirement else set()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for sub in requires:
            marker = sub.partition(";")[2]
            wanted_extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)", marker)
            if wanted_extra and wanted_extra.group(1) not in extras:
                continue
            todo.append(sub.partition(";")[0])
    return seen


def imported_top_levels() -> dict[str, str]:
    """Third-party top-level module -> one file importing it."""
    ours = set(RUNTIME_PACKAGES) | {"lookout_client"}
    found: dict[str, str] = {}
    for package in RUNTIME_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in ours:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_runtime_import_is_declared() -> None:
    closure = declared_closure()
    providers = metadata.packages_distributions()
    missing = {
        module: where
        for module, where in imported_top_levels().items()
        if not any(dist.lower().replace("_", "-") in closure for dist in providers.get(module, []))
    }
    assert missing == {}, f"imported but not in setup.cfg install_requires (or their dependencies): {missing}"
