"""lookout_client brings no dependency into the application it runs in: it imports only the standard library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lookout_client"


def foreign_imports(source: str) -> set[str]:
    """Top-level modules an absolute import in ``source`` names that are neither stdlib nor lookout_client.

    Every import counts, including those inside functions and ``try`` blocks: an optional import of a
    third-party module is still a dependency the day it is installed.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__", "lookout_client"}


def test_the_scan_finds_third_party_imports_wherever_they_are() -> None:
    source = (
        "import json\nfrom . import _spool\nfrom lookout.contract import x\n"
        "def f():\n    try:\n        import requests\n    except ImportError:\n        pass\n"
    )
    assert foreign_imports(source) == {"requests", "lookout"}


def test_lookout_client_imports_only_the_standard_library() -> None:
    modules = sorted(PACKAGE.glob("**/*.py"))
    assert len(modules) >= 5  # the package really was found
    found = {str(path.relative_to(PACKAGE)): foreign_imports(path.read_text()) for path in modules}
    # The one exception is the optional extra lookout-client[system], which nothing else imports.
    assert {name: imports for name, imports in found.items() if imports} == {"system.py": {"psutil"}}
    assert not any("system" in _relative_imports(path.read_text()) for path in modules if path.name != "system.py")


def _relative_imports(source: str) -> set[str]:
    return {alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)
            for alias in node.names} | {node.module or "" for node in ast.walk(ast.parse(source))
                                         if isinstance(node, ast.ImportFrom)}
