"""Daskyard in the Dask ecosystem, against local mode with real dask processes: the
JupyterLab Dask pane's backend (dask-labextension's `DaskClusterManager`) with
`DaskyardCluster` as its factory, and `adapt()` shaped as distributed's `Adaptive`."""

from __future__ import annotations

import asyncio
from typing import Any

import dask.config
import pytest

from daskyard.client import DaskyardApi
from daskyard.cluster import DaskyardAdaptive, DaskyardCluster
from daskyard.local.stack import LocalMode
from tests.support.waiting import eventually


def factory(url: str) -> dict[str, Any]:
    """`labextension.factory` as a user's ~/.config/dask/labextension.yaml sets it."""
    return {"module": "daskyard", "class": "DaskyardCluster", "args": [],
            "kwargs": {"api": url, "allowed_cidrs": ["127.0.0.0/8"], "quiet": True,
                       "worker_threads": 1}}


@pytest.fixture
def labextension_factory(live: LocalMode) -> Any:
    # dask_labextension makes its manager at import, asking for the main thread's event
    # loop, which an earlier asyncio.run in this process may have unset: give it one.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with dask.config.set({"labextension.factory": factory(str(live.api_url))}):
            yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@pytest.mark.e2e
def test_the_jupyterlab_dask_pane_manager_starts_scales_adapts_lists_and_closes(
        live: LocalMode, labextension_factory: None) -> None:
    from dask_labextension.manager import DaskClusterManager

    url = str(live.api_url)
    api = DaskyardApi(url)

    async def pane() -> tuple[list[str], dict[str, Any]]:
        seen: dict[str, Any] = {}
        async with DaskClusterManager() as manager:
            # "+NEW" with the pane's defaults, then the workers box, then adapt.
            made = await manager.start_cluster(configuration={"workers": 1})
            cluster_id = made["id"]
            cluster = manager._clusters[cluster_id]
            assert isinstance(cluster, DaskyardCluster) and made["name"] == "DaskyardCluster 1"
            assert ":8787/status?token=" in made["dashboard_link"]
            assert api.get(cluster.name)["spec"]["workers"] == 1
            scaled = await manager.scale_cluster(cluster_id, 2)
            assert scaled is not None and "adapt" not in scaled
            await cluster._wait_for_workers(2, timeout=60)
            adapted = manager.adapt_cluster(cluster_id, 1, 3)  # synchronous in the manager
            assert adapted is not None and adapted["adapt"] == {"minimum": 1, "maximum": 3}
            await manager._adaptives[cluster_id]  # the request ran in the background
            seen["adapt"] = api.get(cluster.name)["adapt"]
            seen["get"] = manager.get_cluster(cluster_id)
            # A cluster started adaptive, as labextension.default's `adapt:` would.
            second = await manager.start_cluster(
                configuration={"adapt": {"minimum": 0, "maximum": 2}})
            other = manager._clusters[second["id"]]
            await manager._adaptives[second["id"]]
            seen["second"] = api.get(other.name)["adapt"]
            seen["list"] = sorted((m["name"], m.get("adapt")) for m in manager.list_clusters())
            seen["rescaled"] = await manager.scale_cluster(cluster_id, 1)
            seen["after_scale"] = api.get(cluster.name).get("adapt")
            names = [cluster.name, other.name]
            closed = await manager.close_cluster(cluster_id)
            assert closed is not None and closed["id"] == cluster_id
        return names, seen  # leaving the manager closed the second one

    names, seen = asyncio.run(pane())
    assert seen["adapt"] == {"minimum": 1, "maximum": 3}
    assert seen["get"]["adapt"] == {"minimum": 1, "maximum": 3}
    assert seen["second"] == {"minimum": 0, "maximum": 2}
    assert seen["list"] == [("DaskyardCluster 1", {"minimum": 1, "maximum": 3}),
                            ("DaskyardCluster 2", {"minimum": 0, "maximum": 2})]
    assert "adapt" not in seen["rescaled"] and seen["after_scale"] is None
    for name in names:
        assert api.get(name)["status"] == "DELETED"
        assert live.leftovers(name, settle=30) == []


@pytest.fixture
def fast_scheduler(live: LocalMode, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The schedulers' adapt interval times 0.05 for this test's clusters (a decision
    every 0.5 s), as tests/e2e/test_adapt_and_idle.py does."""
    from chalicelib.core.runtime import from_env

    monkeypatch.setenv("DASKYARD_SCHEDULER_TIME_SCALE", "0.05")
    from_env.cache_clear()
    yield
    monkeypatch.undo()
    from_env.cache_clear()


@pytest.mark.e2e
def test_adapt_takes_distributeds_options_and_the_scheduler_gets_them(
        live: LocalMode, fast_scheduler: None) -> None:
    # fast_scheduler: the scheduler's first decision, which reads the options below and
    # takes up their interval, comes 0.5 s after its start, not the stage's 10 s.
    url = str(live.api_url)
    api = DaskyardApi(url)
    with DaskyardCluster("adapty", workers=0, api=url, allowed_cidrs=["127.0.0.0/8"],
                         worker_threads=2, worker_memory=4096, quiet=True) as cluster:
        adaptive = cluster.adapt(minimum_cores=3, maximum_memory="16 GiB", interval="500ms",
                                 wait_count=2, target_duration="3s")
        assert isinstance(adaptive, DaskyardAdaptive) and cluster.adaptive is adaptive
        # 3 cores of 2-thread workers: 2 workers; 16 GiB of 4 GiB workers: 4.
        assert (adaptive.minimum, adaptive.maximum) == (2, 4)
        recorded = api.get("adapty")["adapt"]
        assert recorded == {"minimum": 2, "maximum": 4, "interval": 0.5, "wait_count": 2,
                            "target_duration": 3.0}
        parameter = live.clients.ssm.get_parameter(
            Name="/daskyard/local/adapty/adapt")["Parameter"]["Value"]
        assert '"interval":0.5' in parameter and '"wait_count":2' in parameter
        # The scheduler's loop reads them: two workers for the minimum.
        eventually(lambda: len(cluster.scheduler_info["workers"]) == 2, 60,
                   what="the adaptive minimum's two workers")
        # No maximum: the stage's, as the quota allows (the local admin has no quota).
        assert cluster.adapt(1).maximum == 16
        with pytest.raises(TypeError, match="unexpected keyword arguments worker_key"):
            cluster.adapt(1, 2, worker_key=len)
        adaptive = cluster.adaptive
        assert adaptive is not None
        adaptive.stop()
        assert api.get("adapty").get("adapt") is None and cluster.adaptive is None
    assert api.get("adapty")["status"] == "DELETED"


@pytest.mark.e2e
def test_the_record_follows_the_workers_under_adapt_up_and_down(
        live: LocalMode, fast_scheduler: None) -> None:
    import time

    from distributed import Client, fire_and_forget

    from chalicelib.core import pricing
    from chalicelib.core.models import ClusterSpec
    from chalicelib.core.runtime import runtime
    from daskyard.cli import cost_text, workers_text

    url = str(live.api_url)
    api = DaskyardApi(url)
    settings = runtime().settings

    def rate(workers: int) -> float:
        return pricing.hourly(ClusterSpec(name="follow", workers=workers), settings.prices,
                              public_ips=settings.assign_public_ip)

    def counts() -> tuple[Any, Any, Any]:
        record = api.get("follow")
        return record.get("workers_desired"), record.get("workers_running"), \
            record["cost_per_hour"]

    with DaskyardCluster("follow", workers=1, api=url, allowed_cidrs=["127.0.0.0/8"],
                         idle_timeout_minutes=0, quiet=True, wait_for_workers=True) as cluster:
        eventually(lambda: counts() == (1, 1, rate(1)), 30, what="one worker recorded")
        cluster.adapt(minimum=1, maximum=3)
        with Client(cluster, timeout=30) as client:
            fire_and_forget(client.map(time.sleep, [0.5] * 40, pure=False))
        eventually(lambda: counts() == (3, 3, rate(3)), 60, interval=0.2,
                   what="three workers and their cost, under load")
        record = api.get("follow")
        assert workers_text(record) == "3 running of 3 desired"
        assert cost_text(record).startswith(f"${rate(3):.3f}/h estimated")
        eventually(lambda: counts() == (1, 1, rate(1)), 90, interval=0.2,
                   what="back to one worker and its cost once idle")
        after = api.get("follow")
        assert after["cost_accrued"] > 0 and after["spec"]["workers"] == 1


@pytest.mark.e2e
def test_dask_config_wait_for_workers_progress_drive_and_the_widget(
        live: LocalMode, capsys: pytest.CaptureFixture[str]) -> None:
    """Defaults from dask config (the API's URL among them), READY with its workers
    joined, each step printed as it passes, and the shared drive named: the folder the
    workers write to, where the client can read it."""
    from pathlib import Path

    import dask.dataframe as dd
    import pandas as pd
    from distributed import Client

    url = str(live.api_url)
    settings = {"daskyard.api": url, "daskyard.workers": 2, "daskyard.worker-threads": 2,
                "daskyard.tags": {"team": "cfg"}, "daskyard.allowed-cidrs": ["127.0.0.0/8"],
                "daskyard.wait-for-workers": True}
    with dask.config.set(settings), DaskyardCluster("configured") as cluster:
        # wait_for_workers from config: both workers have joined when it returns.
        assert len(cluster.scheduler_info["workers"]) == 2
        spec = cluster.record["spec"]
        assert (spec["workers"], spec["worker_threads"], spec["tags"]) == \
            (2, 2, {"team": "cfg"})
        printed = capsys.readouterr().out
        assert "CREATING" in printed and "READY" in printed and "waiting for 2" in printed
        assert cluster.drive == str(live.root / "efs" / "configured")
        with Client(cluster, timeout=30) as client:
            frame = dd.from_pandas(pd.DataFrame({"x": range(10)}), npartitions=2)
            client.compute(frame.to_parquet(f"{cluster.drive}/events", compute=False)
                           ).result(timeout=60)
        assert sorted(p.name for p in Path(cluster.drive, "events").iterdir()) == \
            ["part.0.parquet", "part.1.parquet"]
        widget = cluster._repr_html_()
        assert "READY" in widget and cluster.drive in widget and "/h estimated" in widget
        assert "GenerateSecurityKey" in widget  # the create's steps


@pytest.mark.e2e
def test_cluster_drive_is_where_the_workers_are_on_a_named_drive_too(live: LocalMode) -> None:
    import os

    from distributed import Client

    url = str(live.api_url)
    for name, drive in (("own-drive", None), ("named-drive", "teamdata")):
        options = {"drive": drive} if drive else {}
        with DaskyardCluster(name, workers=1, api=url, allowed_cidrs=["127.0.0.0/8"],
                             quiet=True, wait_for_workers=1, **options) as cluster, \
                Client(cluster, timeout=30) as client:
            # The workers' working folder is the drive: the client names the same folder.
            [cwd] = client.run(os.getcwd).values()
            assert os.path.realpath(cwd) == os.path.realpath(cluster.drive), (name, cwd)
