"""The notebook role of the images' entrypoint: Jupyter told it may run as root only
when both the local agent says so and the process is root; the token and the address
go by the environment, no file is left under $HOME."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[2] / "images" / "entrypoint.py"


@pytest.fixture
def entrypoint() -> ModuleType:
    spec = importlib.util.spec_from_file_location("entrypoint", ENTRYPOINT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("allowed", "uid", "expected"), [
    ("1", 0, ["--allow-root"]), ("", 0, []), ("1", 1000, []), ("", 1000, [])])
def test_allow_root_only_when_the_agent_says_so_and_the_process_is_root(
        entrypoint: ModuleType, monkeypatch: pytest.MonkeyPatch, allowed: str, uid: int,
        expected: list[str]) -> None:
    monkeypatch.setenv("DASKYARD_ALLOW_ROOT", allowed)
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    assert entrypoint.root_option() == expected


def test_the_notebook_command_carries_no_token_and_keeps_jupyter_out_of_home(
        entrypoint: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JUPYTER_TOKEN", "s3cret-token")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DASKYARD_ALLOW_ROOT", raising=False)
    for name in ("DASK_SCHEDULER_ADDRESS", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
                 "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        monkeypatch.delenv(name, raising=False)
    command = entrypoint.notebook_command("tls://127.0.9.1:8786", "127.0.9.3", "/efs")
    assert command[:2] == ["jupyter", "lab"] and "--ServerApp.root_dir=/efs" in command
    assert not any("s3cret-token" in part for part in command)
    assert os.environ["DASK_SCHEDULER_ADDRESS"] == "tls://127.0.9.1:8786"
    assert not list(tmp_path.iterdir())
    # Jupyter's and IPython's own files go to the shared drive instead.
    assert os.environ["JUPYTER_CONFIG_DIR"] == "/efs/.jupyter/config"
    assert os.environ["IPYTHONDIR"] == "/efs/.jupyter/ipython"
