"""Every chalicelib module is in a layer of the import-linter contract: a module in no
layer may import anything, and be imported from anywhere, without the contract saying
a word. And no contract lets an import through by way of another module."""

from __future__ import annotations

import pkgutil
import re
import tomllib
from pathlib import Path
from typing import Any

import chalicelib

ROOT = Path(__file__).resolve().parents[2]


def contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["importlinter"]["contracts"])


def layered() -> set[str]:
    [contract] = [c for c in contracts() if c["name"] == "chalicelib layers import downward only"]
    return {name.strip() for layer in contract["layers"] for name in re.split(r"[|:]", layer)}


def test_every_chalicelib_module_is_in_a_layer() -> None:
    modules = {f"chalicelib.{m.name}" for m in pkgutil.iter_modules(chalicelib.__path__)}
    assert modules - layered() == set()
    assert layered() - modules == set()  # and no layer names a module that is gone


def test_no_contract_allows_indirect_imports() -> None:
    assert [c["name"] for c in contracts() if c.get("allow_indirect_imports")] == []
