"""The user side as a Dask user expects it, against the local API (control-plane-only
tasks) or no API at all: dask config's `daskyard:` section, the local keys kept per API,
dask-ctl's discovery entry point, `ls` filters, and errors in Daskyard's own words."""

from __future__ import annotations

import asyncio
import json
import socket
import tomllib
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import dask.config
import pytest
from typer.testing import CliRunner

from daskyard import config, credentials
from daskyard.cli import app
from daskyard.client import ApiError, DaskyardApi
from daskyard.credentials import LocalCredentials
from daskyard.local.stack import LocalMode
from tests.support.modules import run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api(stack: LocalMode) -> Iterator[str]:
    yield stack.api_url or stack.serve_api()




def test_the_shipped_yaml_is_dasks_defaults_and_config_sets_every_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = json.loads(json.dumps(__import__("yaml").safe_load(config.YAML.read_text())))
    keys = {k.replace("-", "_") for k in shipped["daskyard"]}
    assert set(config.SPEC_KEYS) <= keys and {"api", "timeout", "wait_for_workers"} <= keys
    assert dask.config.get("daskyard.timeout") == 900  # registered on import
    assert config.spec_defaults() == {}  # nothing set: the API's own defaults
    with dask.config.set({"daskyard.workers": 4, "daskyard.worker-threads": 2,
                          "daskyard.tags": {"team": "data"}, "daskyard.notebook": False,
                          "daskyard.api": "https://example.invalid/api"}):
        assert config.spec_defaults() == {"workers": 4, "worker_threads": 2,
                                          "tags": {"team": "data"}, "notebook": False}
        assert config.api_url() == "https://example.invalid/api"
        assert config.api_url("http://127.0.0.1:9") == "http://127.0.0.1:9"  # given wins
        monkeypatch.setenv("DASKYARD_API", "http://127.0.0.1:7")
        assert config.api_url() == "http://127.0.0.1:7"
    monkeypatch.delenv("DASKYARD_API")
    monkeypatch.setenv("DASK_DASKYARD__API", "https://env.invalid/api")
    monkeypatch.setenv("DASK_DASKYARD__IDLE_TIMEOUT_MINUTES", "30")
    dask.config.refresh()
    try:
        assert config.api_url() == "https://env.invalid/api"
        assert config.spec_defaults() == {"idle_timeout_minutes": 30}
    finally:
        monkeypatch.undo()
        dask.config.refresh()


def test_the_cli_takes_its_defaults_from_dask_config_and_options_win(api: str) -> None:
    with dask.config.set({"daskyard.api": api, "daskyard.workers": 0,
                          "daskyard.tags": {"team": "cfg"}, "daskyard.ttl-hours": 3}):
        code, out, err = run("up", "cfgd", "--no-wait", "-o", "json")  # no --api
        assert code == 0, err
        spec = json.loads(out)["spec"]
        assert (spec["workers"], spec["tags"], spec["ttl_hours"]) == (0, {"team": "cfg"}, 3)
        code, out, err = run("up", "cfge", "--workers", "1", "--tag", "team=cli", "--no-wait",
                             "-o", "json")
        spec = json.loads(out)["spec"]
        assert (spec["workers"], spec["tags"], spec["ttl_hours"]) == (1, {"team": "cli"}, 3)
    api_ = DaskyardApi(api)
    for name in ("cfgd", "cfge"):
        api_.wait(name, {"READY", "FAILED"}, timeout=120)
        api_.delete(name)
        api_.wait(name, {"DELETED"}, timeout=120)


def test_ls_hides_deleted_clusters_unless_asked_and_filters_by_status(api: str) -> None:
    client = DaskyardApi(api)
    client.create({"name": "lsgone", "workers": 0})
    client.wait("lsgone", {"READY"}, timeout=120)
    client.delete("lsgone")
    client.wait("lsgone", {"DELETED"}, timeout=120)
    client.create({"name": "lslive", "workers": 0})
    client.wait("lslive", {"READY"}, timeout=120)
    names = {r["name"] for r in json.loads(run("ls", "-o", "json", "--api", api)[1])}
    assert "lslive" in names and "lsgone" not in names
    names = {r["name"] for r in json.loads(run("ls", "--all", "-o", "json", "--api", api)[1])}
    assert {"lslive", "lsgone"} <= names
    listed = json.loads(run("ls", "--status", "deleted", "-o", "json", "--api", api)[1])
    assert {r["status"] for r in listed} == {"DELETED"} and "lsgone" in {r["name"] for r in listed}
    code, _, err = run("ls", "--status", "GONE", "--api", api)
    assert code == 1 and "--status takes CREATING" in err
    # A terminal of 60 columns still shows the whole address, folded, never cut.
    address = client.get("lslive")["scheduler_address"]
    result = CliRunner().invoke(app, ["ls", "--api", api], env={"COLUMNS": "60"})
    assert "…" not in result.stdout
    assert address in "".join(line.strip(" │┃|") for line in result.stdout.splitlines()) \
        or address in result.stdout.replace("\n", "")
    code, _, err = run("notebook", "lslive", "--api", api)
    assert code == 1 and "daskyard up lslive-nb --notebook" in err and "down lslive" in err
    client.delete("lslive")
    client.wait("lslive", {"DELETED"}, timeout=120)


def test_errors_are_in_daskyards_words_not_pydantics(api: str) -> None:
    client = DaskyardApi(api)
    with pytest.raises(ApiError) as refused:
        client.create({"name": "misfit", "launch_type": "EC2", "instance_type": "t3.medium",
                       "worker_cpu": 4096})
    assert "Value error" not in str(refused.value)
    assert str(refused.value).startswith("body: a worker of worker_cpu=4096")
    with pytest.raises(ApiError) as refused:
        client.create({"name": "many", "allowed_cidrs": ["10.0.0.0/8"] * 40})
    assert str(refused.value).startswith("allowed_cidrs: at most 29")


def listening() -> tuple[socket.socket, str]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server, f"http://127.0.0.1:{server.getsockname()[1]}"


def keys(url: str, key: str) -> LocalCredentials:
    return LocalCredentials(api_url=url, access_key_id=key, secret_access_key="s",  # nosec B106
                            arn=f"arn:aws:iam::123456789012:user/{key}")


def test_local_keys_are_kept_per_api_and_the_running_serve_is_found(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    first, first_url = listening()
    second, second_url = listening()
    demo, demo_url = listening()
    try:
        keys(first_url, "FIRST").write(path)
        keys(second_url, "SECOND").write(path)
        keys(demo_url, "DEMO").write(path, latest=False)  # a demo beside the serves
        assert path.stat().st_mode & 0o777 == 0o600
        found = {url: credentials.load(url, path) for url in (first_url, second_url, demo_url)}
        assert {u: c.access_key_id for u, c in found.items() if c} == {
            first_url: "FIRST", second_url: "SECOND", demo_url: "DEMO"}
        # The serve started last, while it answers; a demo never takes its place.
        assert credentials.running_api(path) == second_url
        second.close()
        assert credentials.running_api(path) == first_url
        credentials.forget(first_url, path)  # that serve stopped
        assert credentials.load(first_url, path) is None
        assert credentials.load(demo_url, path) is not None
        assert credentials.running_api(path) is None
    finally:
        for server in (first, second, demo):
            server.close()
    # A file from before entries per API reads as its one entry.
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"api_url": "http://127.0.0.1:8000", "access_key_id": "OLD",
                               "secret_access_key": "s", "arn": "a", "region": "us-east-1"}))
    loaded = credentials.load("http://127.0.0.1:8000", old)
    assert loaded is not None and loaded.access_key_id == "OLD"


def test_two_serves_and_a_demo_keep_their_own_keys(stack: LocalMode, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The local mode's own writes: its API's entry joins the others and goes when it
    stops; the CLI with no --api reaches the serve last started."""
    path = tmp_path / "credentials.json"
    monkeypatch.setenv("DASKYARD_CREDENTIALS", str(path))
    other, other_url = listening()  # another serve's API, still running
    try:
        keys(other_url, "OTHER").write(path)
        monkeypatch.setattr(stack, "keys", path)  # the session's own file is left as it is
        stack.write_credentials()
        ours = credentials.load(stack.api_url, path)
        assert ours is not None and ours.data_dir == str(stack.root)
        assert credentials.load(other_url, path) is not None
        assert credentials.running_api(path) == stack.api_url
        code, out, err = run("ls", "-o", "json")  # no --api: the serve found
        assert code == 0 and isinstance(json.loads(out), list), err
    finally:
        other.close()


def test_dask_ctl_discovery_entry_point_lists_live_clusters(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As dask-ctl finds and calls it (dask-ctl 2024.1.0 itself does not import with
    distributed 2026.8): the entry point from this tree's pyproject, through
    importlib.metadata, an async generator of (name, class); then `from_name`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = project["project"]["entry-points"]["dask_cluster_discovery"]
    dist = tmp_path / "daskyard_tree-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: daskyard-tree\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(
        "[dask_cluster_discovery]\n" + "".join(f"{k} = {v}\n" for k, v in declared.items()))
    monkeypatch.syspath_prepend(str(tmp_path))
    [point] = [e for e in entry_points(group="dask_cluster_discovery")
               if e.name == "daskyard" and e.dist is not None
               and e.dist.name == "daskyard-tree"]
    discover = point.load()

    import daskyard.cluster as module

    records = [{"name": "alive", "status": "READY"}, {"name": "coming", "status": "CREATING"},
               {"name": "gone", "status": "DELETED"}]
    asked: list[str | None] = []

    def list_clusters(api: str | None = None, credentials: Any = None,
                      status: str | None = None) -> list[dict[str, str]]:
        asked.append(status)  # the API filters by status, as here
        return [r for r in records if status is None or r["status"] in status.split(",")]

    monkeypatch.setattr(module, "list_clusters", list_clusters)

    async def names() -> list[tuple[str, Any]]:
        return [found async for found in discover()]

    found = asyncio.run(names())
    assert found == [("alive", module.DaskyardCluster), ("coming", module.DaskyardCluster)]
    assert asked == ["CREATING,READY"]  # only the live ones are asked for
    assert callable(found[0][1].from_name)
