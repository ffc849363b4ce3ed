"""`DaskyardCluster` against local mode over real HTTP, with real dask processes:
create, Client(cluster), scale, attach by name, close destroys what it made."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from distributed import Client
from typer.testing import CliRunner

import daskyard
from daskyard import cli
from daskyard.client import DaskyardApi
from daskyard.cluster import ClusterFailed, DaskyardCluster
from daskyard.local.asl import raw
from daskyard.local.stack import LocalMode
from tests.support.waiting import eventually


@pytest.mark.e2e
def test_create_compute_scale_attach_and_close(live: LocalMode) -> None:
    url = str(live.api_url)
    steps: list[str] = []
    cluster = DaskyardCluster("klass", workers=1, api=url, allowed_cidrs=["127.0.0.0/8"],
                              on_progress=lambda r: steps.append(r["step"]))
    try:
        # Progress is reported as the steps pass; which ones a 0.2 s poll sees varies.
        create_states = json.loads(raw("create_cluster"))["States"]
        known = {"Queued", "BuildImages", "Ready", *create_states,
                 *(s for st in create_states.values() for b in st.get("Branches", [])
                   for s in b["States"])}
        assert len(set(steps)) >= 3 and steps[-1] == "Ready" and set(steps) <= known, steps
        assert cluster.dashboard_link.startswith("https://")
        assert ":8787/status?token=" in cluster.dashboard_link
        with Client(cluster, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            assert client.submit(sum, range(101)).result(timeout=30) == 5050
            cluster.scale(2)
            client.wait_for_workers(2, timeout=60)
            assert len(cluster.scheduler_info["workers"]) == 2

            # The scheduler's own start-up lines, from CloudWatch Logs: by the CLI, and
            # among the cluster's logs beside what distributed keeps in memory.
            def scheduler_lines() -> str:
                out = CliRunner().invoke(cli.app, ["logs", "klass", "--role", "scheduler",
                                                   "--api", url]).output
                return out if "Scheduler at:" in out else ""

            shown = eventually(scheduler_lines, 10, what="the scheduler's start-up lines")
            assert all(line.split()[1].startswith("scheduler/")
                       for line in shown.splitlines() if line.strip()), shown
            logs = cluster.get_logs()
            assert "Scheduler" in logs  # distributed's own
            [task] = [key for key in logs if key.startswith("scheduler/")]
            assert "Scheduler at:" in logs[task]
            assert any(key.startswith("worker/") for key in logs), list(logs)

            attached = DaskyardCluster("klass", api=url, create=False)
            assert attached.scheduler_address == cluster.scheduler_address
            attached.close()  # it did not make the cluster, so it leaves it running
            assert DaskyardApi(url).get("klass")["status"] == "READY"
    finally:
        cluster.close()
    assert DaskyardApi(url).get("klass")["status"] == "DELETED"
    assert live.leftovers("klass", settle=30) == []


@pytest.mark.e2e
def test_attach_to_a_missing_cluster_is_a_clear_error(live: LocalMode) -> None:
    with pytest.raises(ClusterFailed, match="no live cluster named 'nobody'"):
        DaskyardCluster("nobody", api=str(live.api_url), create=False)


@pytest.mark.e2e
def test_a_failed_create_raises_with_the_reason_and_leaves_nothing(live: LocalMode,
                                                                   monkeypatch: Any) -> None:
    def fail(name: str, event: dict[str, Any], handler: Any) -> Any:
        if name == "StartWorkers" and event.get("action") == "create":
            raise RuntimeError("no capacity in this zone")
        return handler(event, None)

    monkeypatch.setattr(live.router, "interceptor", fail)
    with pytest.raises(ClusterFailed, match="no capacity in this zone"):
        DaskyardCluster("doomed", workers=1, api=str(live.api_url),
                        allowed_cidrs=["127.0.0.0/8"])
    assert live.leftovers("doomed", settle=30) == []


@pytest.mark.e2e
def test_async_with_creates_with_the_options_and_destroys(live: LocalMode) -> None:
    url = str(live.api_url)

    async def use() -> tuple[Any, ...]:
        async with DaskyardCluster("asyncy", workers=1, api=url, asynchronous=True,
                                   worker_threads=3, environment={"MODEL": "v2"},
                                   tags={"team": "data"}, quiet=True) as cluster:
            async with Client(cluster, asynchronous=True, timeout=30) as client:
                await client.wait_for_workers(1, timeout=60)
                threads = await client.run(lambda dask_worker: dask_worker.state.nthreads)
                model = await client.run(lambda: __import__("os").environ.get("MODEL"))
                total = await client.submit(sum, range(11))
            return cluster.name, list(threads.values()), model, total, \
                DaskyardApi(url).get("asyncy")

    name, threads, model, total, record = asyncio.run(use())
    assert (name, threads, list(model.values()), total) == ("asyncy", [3], ["v2"], 55)
    ecs = live.clients.ecs
    cluster_arn = record["resources"]["ecs_cluster"]
    tags = {t["key"]: t["value"] for t in ecs.list_tags_for_resource(
        resourceArn=cluster_arn)["tags"]}
    assert tags["team"] == "data" and tags["daskyard:cluster"] == "asyncy"
    assert DaskyardApi(url).get("asyncy")["status"] == "DELETED"  # __aexit__ waited


@pytest.mark.e2e
def test_a_script_that_never_closes_leaves_nothing_running(live: LocalMode,
                                                           tmp_path: Path) -> None:
    script = ("import sys\nfrom daskyard import DaskyardCluster\n"
              "c = DaskyardCluster('forgotten', workers=0, api=sys.argv[1], quiet=True)\n"
              "print(c.record['status'], flush=True)\n")  # and exits without close()
    done = subprocess.run([sys.executable, "-c", script, str(live.api_url)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DASKYARD_CREDENTIALS":
                               str(live.root / "credentials.json")})
    assert done.returncode == 0 and done.stdout.strip() == "READY", done.stderr
    # At exit the destroy was asked for; the orchestrator carries it out.
    assert DaskyardApi(str(live.api_url)).get("forgotten")["status"] in ("DELETING", "DELETED")
    record = DaskyardApi(str(live.api_url)).wait("forgotten", {"DELETED"}, timeout=60)
    assert record["status"] == "DELETED"


@pytest.mark.e2e
def test_attaching_says_so_and_changes_nothing(live: LocalMode,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    url = str(live.api_url)
    api = DaskyardApi(url)
    api.create({"name": "kept", "workers": 0})  # its scheduler is all attaching needs
    api.wait("kept", {"READY"}, timeout=120)
    with DaskyardCluster("kept", workers=3, api=url) as attached:  # as the README's demo
        assert attached.shutdown_on_close is False
    out = capsys.readouterr().out
    assert "attached to the live cluster 'kept'" in out and "not applied: ['workers']" in out
    record = api.get("kept")
    assert (record["status"], record["spec"]["workers"]) == ("READY", 0)
    with DaskyardCluster.from_name("kept", api=url, quiet=True) as again:
        assert again.scheduler_address == attached.scheduler_address
    assert [r["name"] for r in daskyard.list_clusters(api=url)
            if r["status"] == "READY"] == ["kept"]
    api.delete("kept")
    api.wait("kept", {"DELETED"}, timeout=120)
