"""The peer, side by side: dask-cloudprovider's `FargateCluster`, unmodified, against
local mode (its tasks started by RunTask and run as ECS runs them, daskyard.local.
standalone), computes one task and closes; what it left is listed. The figures go to the
bench (bench/peer.py, which also runs Daskyard and the fault); this test asserts that
the peer ran and was measured, and prints the figures."""

from __future__ import annotations

import json

import psutil
import pytest

from bench import peer
from daskyard.local.stack import LocalMode
from tests.support.tasks import described, register_and_run
from tests.support.waiting import eventually


@pytest.mark.e2e
def test_fargate_cluster_runs_one_task_against_local_mode_and_is_measured(
        live: LocalMode) -> None:
    with peer.peer_ready(live):
        row = peer.run_peer(live, "peer-e2e")
    print(json.dumps({k: v for k, v in row.items() if k != "calls_by_action"}, indent=1))
    assert row["error"] is None, row["error"]
    assert row["result"] == 5050  # sum(range(101)), computed by a worker task process
    assert row["ready_s"] > 0 and row["calls_by_action"]["ecs:RunTask"] == 2, row
    assert isinstance(row["left_after_close"], list)  # measured (the bench reports it)
    # Its scheduler's output is in CloudWatch Logs, where the peer's logs() reads it.
    assert live.clients is not None
    logs = live.clients.logs
    streams = logs.describe_log_streams(logGroupName="dask-ecs")["logStreams"]
    scheduler = next(s["logStreamName"] for s in streams if "/dask-scheduler/" in s[
        "logStreamName"])
    lines = logs.get_log_events(logGroupName="dask-ecs", logStreamName=scheduler)["events"]
    assert any("Scheduler at" in e["message"] for e in lines), lines[:5]


@pytest.mark.e2e
def test_a_standalone_task_runs_its_command_logs_to_cloudwatch_and_reports_its_exit(
        live: LocalMode) -> None:
    clients = live.clients
    assert clients is not None
    task = register_and_run(clients, ["python", "-c", "import sys; print('hello from', "
                                      "sys.argv[1:]); raise SystemExit(3)"],
                            log_group="standalone-logs")
    arn = task["taskArn"]
    stopped = eventually(lambda: (t := described(clients, arn))["lastStatus"] == "STOPPED"
                         and t, timeout=30, what="task STOPPED")
    assert stopped["stoppedReason"] == "Essential container in task exited"
    assert stopped["containers"][0]["exitCode"] == 3
    stream = f"task/main/{arn.rsplit('/', 1)[-1]}"  # <prefix>/<container>/<task id>
    events = clients.logs.get_log_events(logGroupName="standalone-logs",
                                         logStreamName=stream)["events"]
    assert [e["message"] for e in events] == ["hello from ['--x']"]  # the override's argv

    missing = register_and_run(clients, ["no-such-program"])
    failed = eventually(lambda: (t := described(clients, missing["taskArn"]))[
        "lastStatus"] == "STOPPED" and t, timeout=30, what="task STOPPED")
    assert failed["stoppedReason"].startswith("CannotStartContainerError: exec: "
                                              '"no-such-program": executable file not found')


@pytest.mark.e2e
def test_a_standalone_task_process_ends_with_its_local_mode(live: LocalMode) -> None:
    assert live.clients is not None and live.standalone is not None
    register_and_run(live.clients, ["python", "-c", "import time; time.sleep(300)"])
    standalone = live.standalone
    [task] = eventually(lambda: [t for t in standalone.tasks if t.handle is not None],
                        timeout=30, what="task process started")
    process = psutil.Process(task.handle.proc.pid)
    live.reset(processes=True)  # the agent and its standalone tasks stop, as at stop()
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
