"""The image's scripts and the CLI, as unit and functional tests load and run them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from typer.testing import CliRunner

from daskyard.cli import app

IMAGES = Path(__file__).resolve().parents[2] / "images"


def image_module(name: str) -> ModuleType:
    """images/<name>.py loaded as a module of its own (the image runs it as a script)."""
    found = importlib.util.spec_from_file_location(name, IMAGES / f"{name}.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def run(*args: str) -> tuple[int, str, str]:
    """`daskyard ARGS` in this process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr
