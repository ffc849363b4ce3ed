"""Real dask scheduler and worker processes, run from the images' entrypoint."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.core.runtime import Runtime
from daskyard.local.deploy import STAGE
from daskyard.local.stack import LocalMode
from tests.support.clusters import spec
from tests.support.data import fixture_json
from tests.support.records import make
from tests.support.tls import client_security, material, task_env
from tests.support.waiting import eventually

ENTRYPOINT = Path(__file__).resolve().parents[2] / "images" / "entrypoint.py"


def entrypoint(role: str, host: str, tmp: Path, output: Path | None = None,
               **env: str) -> subprocess.Popen[bytes]:
    """The images' entrypoint as a process; its output piped, or written to `output`.
    It gets the TLS material ECS would inject for its role."""
    full = {**os.environ, "DASKYARD_HOST": host, "DASKYARD_EFS": str(tmp),
            "DASKYARD_SCHEDULER_PARAMETER": "/daskyard/local/demo/scheduler-address",
            "DASKYARD_SCRATCH": str(tmp / "scratch"), **task_env(material(), role), **env}
    with open(output, "wb") if output else nullcontext(subprocess.PIPE) as out:
        return subprocess.Popen([sys.executable, str(ENTRYPOINT), role], env=full,
                                stdout=out, stderr=subprocess.STDOUT,
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

    make(rt, spec("demo"))
    log = tmp_path / "worker.log"
    worker = entrypoint("worker", "127.0.3.2", tmp_path, output=log)
    scheduler = entrypoint("scheduler", "127.0.3.1", tmp_path)
    try:
        # The worker looked for the parameter, found none, and looks again.
        eventually(lambda: log.read_text().count(
            "daskyard: waiting for /daskyard/local/demo/scheduler-address") >= 2,
                   30, interval=0.1, what="the worker waiting for the address")
        assert worker.poll() is None, "the worker waits for the parameter, it does not exit"
        detail = fixture_json("fargate_task_running.json")
        detail["attachments"][0]["details"][3]["value"] = "127.0.3.1"
        with Client(stack.app.app, stage_name=STAGE) as chalice:
            event = chalice.events.generate_cw_event(
                source="aws.ecs", detail_type="ECS Task State Change", detail=detail,
                resources=[])
            assert str(chalice.lambda_.invoke("OnEcsTaskStateChange", event).payload
                       ).startswith("published")
        with DaskClient("tls://127.0.3.1:8786", security=client_security(material()),
                        timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            assert client.submit(sum, range(101)).result(timeout=30) == 5050
            assert any(w.startswith("tls://127.0.3.2:")
                       for w in client.scheduler_info()["workers"])
    finally:
        stop(worker, scheduler)


@pytest.mark.e2e
def test_worker_exits_nonzero_with_a_clear_message_past_the_bound(tmp_path: Path,
                                                                   stack: LocalMode) -> None:
    worker = entrypoint("worker", "127.0.3.3", tmp_path, DASKYARD_WAIT_SECONDS="2")
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 3
    assert b"no scheduler address at /daskyard/local/demo/scheduler-address" in out


@pytest.mark.e2e
def test_no_role_starts_without_its_tls_material(tmp_path: Path, stack: LocalMode) -> None:
    for role in ("scheduler", "worker", "notebook"):
        proc = entrypoint(role, "127.0.3.4", tmp_path, DASKYARD_TLS_KEY="")
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 2, (role, out)
        assert b"DASKYARD_TLS_KEY not set" in out and b"not starting without TLS" in out
