"""What import-linter cannot hold by itself (pyproject.toml [tool.importlinter]; every
chalicelib module in a layer is tests/unit/test_import_layers.py's): app.py, a module,
which import-linter takes as no root, imports only chalice and chalicelib, whose
contracts then cover everything it reaches; and no contract lets indirect imports
through."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_app_imports_only_chalice_and_chalicelib() -> None:
    tree = ast.parse((ROOT / "app.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    tops = {name.partition(".")[0] for name in imported}
    assert tops - sys.stdlib_module_names - {"__future__"} <= {"chalice", "chalicelib"}


def test_no_contract_allows_indirect_imports() -> None:
    assert not [c["name"] for c in CONFIG["contracts"] if c.get("allow_indirect_imports")]
