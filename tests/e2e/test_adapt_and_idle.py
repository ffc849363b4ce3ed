"""Adaptive scaling and idle shutdown carried out by the cluster itself (the scheduler's
plugin, images/daskyard_scheduler.py), with real dask processes in local mode and no
client process left to drive them. The scheduler's intervals are scaled down for the
test (Settings.scheduler_time_scale), as only tests do."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, fire_and_forget
from distributed.security import Security

from chalicelib import lifecycle
from chalicelib.core.models import Notify, Status
from chalicelib.core.runtime import Runtime, from_env, runtime
from chalicelib.triggers import api
from daskyard.client import DaskyardApi
from daskyard.local.stack import LocalMode
from tests.support.callers import ALICE
from tests.support.clusters import spec, wait_status
from tests.support.receiver import Receiver
from tests.support.waiting import eventually


@pytest.fixture
def scaled(live: LocalMode, monkeypatch: pytest.MonkeyPatch) -> Callable[[float], Runtime]:
    """`scaled(0.1)`: the stage's scheduler timings times 0.1 for this test's clusters
    (their task definitions are registered with it)."""

    def scale(factor: float) -> Runtime:
        monkeypatch.setenv("DASKYARD_SCHEDULER_TIME_SCALE", str(factor))
        from_env.cache_clear()
        return runtime()

    yield scale  # type: ignore[misc]
    monkeypatch.undo()
    from_env.cache_clear()


def security(found: dict[str, Any]) -> Security:
    return Security(require_encryption=True, tls_ca_file=found["ca"],
                    tls_client_cert=found["cert"], tls_client_key=found["key"])


def workers(live: LocalMode, rt: Runtime, name: str) -> tuple[int, int]:
    """(the workers service's desiredCount, worker tasks running)."""
    names = rt.names(name)
    assert live.clients is not None and live.agent is not None
    [service] = live.clients.ecs.describe_services(
        cluster=names.base(), services=[names.service("worker")])["services"]
    return service["desiredCount"], len(live.agent.running(names.service("worker")))


@pytest.mark.e2e
def test_adapt_grows_under_load_and_shrinks_when_idle_with_the_client_gone(
        live: LocalMode, scaled: Callable[[float], Runtime]) -> None:
    rt = scaled(0.05)  # a decision every 0.5 s
    http = DaskyardApi(str(live.api_url))
    http.create({"name": "elastic", "workers": 1, "allowed_cidrs": ["127.0.0.0/8"],
                 "idle_timeout_minutes": 0})
    assert http.wait("elastic", {"READY", "FAILED"}, timeout=120)["status"] == "READY"
    assert http.adapt("elastic", 1, 3)["adapt"] == {"minimum": 1, "maximum": 3}
    assert http.get("elastic")["adapt"] == {"minimum": 1, "maximum": 3}
    found = http.credentials("elastic")
    with Client(found["address"], security=security(found), timeout=30) as client:
        import time

        # Work for about 10 s on one worker of two threads; the client leaves at once.
        fire_and_forget(client.map(time.sleep, [0.5] * 40, pure=False))
    # The DaskyardApi above holds no adaptive loop either: the scheduler drives ECS.
    eventually(lambda: workers(live, rt, "elastic") == (3, 3), 60, interval=0.2,
               what="three workers under load")
    eventually(lambda: workers(live, rt, "elastic") == (1, 1), 90, interval=0.2,
               what="back to the minimum once idle")
    http.delete("elastic")
    http.wait("elastic", {"DELETED"}, timeout=120)
    assert live.leftovers("elastic", settle=30) == []


@pytest.mark.e2e
def test_idle_timeout_destroys_a_cluster_once_no_client_and_no_task_is_left(
        live: LocalMode, scaled: Callable[[float], Runtime], receiver: Receiver,
        tmp_path: Path) -> None:
    rt = scaled(0.1)  # idle_timeout_minutes=1 -> 6 s
    lifecycle.create_cluster(rt, spec("idler", workers=1, idle_timeout_minutes=1,
                                      allowed_cidrs=["127.0.0.0/8"]), caller=ALICE,
                             notify=[Notify(kind="webhook", url=receiver.url)])
    wait_status(rt, "idler", {Status.READY}, timeout=120)
    found = api.credentials(rt, ALICE, "idler")
    done = tmp_path / "done"  # written by the task when it ends (its drive goes with it)
    with Client(found["address"], security=security(found), timeout=30) as client:
        timeout = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.idle_timeout)
        assert timeout == 6

        def uptime(dask_scheduler: Any) -> float:
            import time

            return float(time.time() - dask_scheduler.time_started)

        # A connected client keeps the cluster past its idle timeout...
        eventually(lambda: client.run_on_scheduler(uptime) > timeout + 1, 60, interval=0.5,
                   what="the scheduler up longer than its idle timeout")
        assert rt.registry.require("idler").status == Status.READY

        def work(path: str, seconds: float) -> None:
            import pathlib
            import time

            time.sleep(seconds)
            pathlib.Path(path).write_text("done")

        # ... and so does a task running longer than it, after the client has gone.
        fire_and_forget(client.submit(work, str(done), timeout + 1, pure=False))
    record = wait_status(rt, "idler", {Status.DELETED}, timeout=120)
    assert Path(done).read_text() == "done", "the scheduler waited for the running task"
    assert record.destroy_reason == "idle for 1 minute (no tasks, no client)"
    events = [json.loads(body) for _, body in receiver.wait(2)]
    assert [e["event"] for e in events] == ["cluster.ready", "cluster.deleted"]
    assert events[1]["cluster"]["destroy_reason"] == record.destroy_reason
    assert live.leftovers("idler", settle=30) == []
