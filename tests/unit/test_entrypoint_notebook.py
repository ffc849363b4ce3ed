"""The notebook role of the images' entrypoint: Jupyter told it may run as root only
when both the local agent says so and the process is root; the token and the address
go by the environment, no file is left under $HOME, and Jupyter's and IPython's own
folders (what they run code from) are never on the shared drive."""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.modules import image_module

STATE = ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")


@pytest.fixture
def entrypoint() -> ModuleType:
    return image_module("entrypoint")


@pytest.mark.parametrize(("allowed", "uid", "expected"), [
    ("1", 0, ["--allow-root"]), ("", 0, []), ("1", 1000, []), ("", 1000, [])])
def test_allow_root_only_when_the_agent_says_so_and_the_process_is_root(
        entrypoint: ModuleType, monkeypatch: pytest.MonkeyPatch, allowed: str, uid: int,
        expected: list[str]) -> None:
    monkeypatch.setenv("DASKYARD_ALLOW_ROOT", allowed)
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    assert entrypoint.root_option() == expected


def test_the_notebook_command_carries_no_token_and_keeps_jupyter_off_home_and_drive(
        entrypoint: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home, drive, scratch = tmp_path / "home", tmp_path / "efs", tmp_path / "tmp"
    for folder in (home, drive, scratch):
        folder.mkdir()
    monkeypatch.setenv("JUPYTER_TOKEN", "s3cret-token")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # the task's own /tmp
    monkeypatch.delenv("DASKYARD_ALLOW_ROOT", raising=False)
    for name in (*STATE, "DASK_SCHEDULER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    command = entrypoint.notebook_command("tls://127.0.9.1:8786", "127.0.9.3", str(drive))
    assert command[:2] == ["jupyter", "lab"] and f"--ServerApp.root_dir={drive}" in command
    assert not any("s3cret-token" in part for part in command)
    assert os.environ["DASK_SCHEDULER_ADDRESS"] == "tls://127.0.9.1:8786"
    # The kernels' dashboard link is the dashboard through this Jupyter server.
    assert os.environ["DASK_DISTRIBUTED__DASHBOARD__LINK"] == "/daskyard/dashboard/status"
    assert not list(home.iterdir()) and not list(drive.iterdir())
    # Jupyter's and IPython's own folders (config, startup files: code they run) are in
    # a new folder of the task's own, private, never on the shared drive.
    (state,) = scratch.iterdir()
    assert state.name.startswith("daskyard-notebook-")
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in STATE:
        assert Path(os.environ[name]).parent == state, name


def test_each_start_has_new_jupyter_folders(
        entrypoint: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing a previous task (or anyone) left can be where the next start looks."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for name in STATE:
        monkeypatch.delenv(name, raising=False)
    first = entrypoint.jupyter_state()
    assert entrypoint.jupyter_state() != first


@pytest.mark.parametrize(("image", "extension"), [
    (True, "daskyard_jupyter"), (False, "daskyard.jupyter")])
def test_jupyter_serves_the_clusters_dashboard_and_the_dask_pane_opens_on_it(
        entrypoint: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        image: bool, extension: str) -> None:
    """The image's copy of daskyard/jupyter.py where Python finds it (the image puts it in
    site-packages), else the daskyard package's (local mode); in the task's private
    Jupyter config, with the Dask pane's default URL in its private lab settings."""
    site, scratch = tmp_path / "site", tmp_path / "tmp"
    site.mkdir()
    scratch.mkdir()
    if image:
        (site / "daskyard_jupyter.py").write_text("")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "daskyard_jupyter", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    for name in STATE:
        monkeypatch.delenv(name, raising=False)
    state = entrypoint.jupyter_state()
    config = json.loads((state / "config" / "jupyter_server_config.json").read_text())
    assert config["ServerApp"]["jpserver_extensions"] == {extension: True}
    settings = Path(config["LabApp"]["app_settings_dir"])
    assert settings.parent == state
    overrides = json.loads((settings / "overrides.json").read_text())
    assert overrides == {"dask-labextension:plugin": {"defaultURL": "/daskyard/dashboard/"}}
