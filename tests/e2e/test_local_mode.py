"""Real dask scheduler and worker processes, run from the images' entrypoint."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from chalice.test import Client

from chalicelib.runtime import Runtime
from daskyard import demo
from daskyard.local.stack import LocalMode
from tests.conftest import fixture_json, spec

ENTRYPOINT = Path(__file__).resolve().parents[2] / "images" / "entrypoint.py"


def entrypoint(role: str, host: str, tmp: Path, **env: str) -> subprocess.Popen[bytes]:
    full = {**os.environ, "DASKYARD_HOST": host, "DASKYARD_EFS": str(tmp),
            "DASKYARD_SCHEDULER_PARAMETER": "/daskyard/demo/scheduler-address",
            "DASKYARD_SCRATCH": str(tmp / "scratch"), **env}
    return subprocess.Popen([sys.executable, str(ENTRYPOINT), role], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.e2e
def test_worker_started_before_the_address_exists_joins_via_the_event(
        stack: LocalMode, rt: Runtime, tmp_path: Path) -> None:
    from distributed import Client as DaskClient

    rt.registry.create(spec("demo"))
    worker = entrypoint("worker", "127.0.3.2", tmp_path)
    scheduler = entrypoint("scheduler", "127.0.3.1", tmp_path)
    try:
        time.sleep(2)
        assert worker.poll() is None, "the worker waits for the parameter, it does not exit"
        detail = fixture_json("fargate_task_running.json")
        detail["attachments"][0]["details"][3]["value"] = "127.0.3.1"
        with Client(stack.app.app) as chalice:
            event = chalice.events.generate_cw_event(
                source="aws.ecs", detail_type="ECS Task State Change", detail=detail,
                resources=[])
            assert str(chalice.lambda_.invoke("OnEcsTaskStateChange", event).payload
                       ).startswith("published")
        with DaskClient("tcp://127.0.3.1:8786", timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            assert client.submit(sum, range(101)).result(timeout=30) == 5050
            assert any(w.startswith("tcp://127.0.3.2:")
                       for w in client.scheduler_info()["workers"])
    finally:
        stop(worker, scheduler)


@pytest.mark.e2e
def test_worker_exits_nonzero_with_a_clear_message_past_the_bound(tmp_path: Path,
                                                                   stack: LocalMode) -> None:
    worker = entrypoint("worker", "127.0.3.3", tmp_path, DASKYARD_WAIT_SECONDS="2")
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 3
    assert b"no scheduler address at /daskyard/demo/scheduler-address" in out


@pytest.mark.e2e
def test_demo_path_computes_and_leaves_nothing(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    lines: list[str] = []
    result = demo.run(lines.append, name="e2e", workers=2)
    assert int(result["count"].sum()) == 200_000
    assert sorted(result.index) == list("ABCDEFGH")
    assert any("nothing left in the emulator" in line for line in lines)
    assert not [p for p in psutil.process_iter(["cmdline"])
                if str(ENTRYPOINT) in " ".join(p.info["cmdline"] or [])]
