"""scripts/ holds command lines only: each script is its argparse and a call into a library package, kept short."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for p in (ROOT / "scripts").glob("*.py") if p.name != "__init__.py")
MAX_LINES = 150  # a longer script is growing library code: move it to the package it belongs to


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_each_script_is_short(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines < MAX_LINES, f"scripts/{path.name} has {lines} lines: its library code belongs in a package"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_no_script_edits_sys_path(path: Path) -> None:
    """The project is installed (pip install -e .): a script finds its packages without touching sys.path."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", None) == "sys":
            pytest.fail(f"scripts/{path.name}:{node.lineno} uses sys.path")
