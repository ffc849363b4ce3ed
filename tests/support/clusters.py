"""Clusters as tests make them: a spec, a create or destroy run to its end, a record
waited on, a fault injected after a step's real work."""

from __future__ import annotations

from typing import Any

from chalicelib import lifecycle
from chalicelib.core.aws import Clients
from chalicelib.core.models import ClusterRecord, ClusterSpec, Status
from chalicelib.core.runtime import Runtime
from daskyard.local.stack import LocalMode, wait_execution
from tests.support.callers import ALICE
from tests.support.data import fixture_json
from tests.support.waiting import eventually

# Every Lambda-backed state of the create machine, in the order they run.
CREATE_STATES = ["GenerateSecurityKey", "ArrangeNetwork", "EstablishSharedDrive",
                 "SetUpEcsCluster", "PrepareImages", "RegisterTaskDefinitions",
                 "StartScheduler", "WaitForScheduler", "WaitForSharedDrive", "StartWorkers",
                 "WaitForNotebook", "PublishEndpoints"]
# What a Fargate cluster's record lists once READY (no key pair: Fargate takes no SSH).
EXPECTED_RESOURCES = {"credentials_secret", "network", "drive", "ecs_cluster", "images",
                      "log_group", "task_definitions", "scheduler_role", "services"}


def spec(name: str = "demo", **kw: Any) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": name, "workers": 2,
                                       "allowed_cidrs": ["10.1.0.0/16"], **kw})


def wait_status(rt: Runtime, name: str, statuses: set[Status],
                timeout: float = 60) -> ClusterRecord:
    """The record once its status is one of `statuses`."""
    def record() -> ClusterRecord | None:
        found = rt.registry.get(name)
        return found if found and found.status in statuses else None

    try:
        return eventually(record, timeout, interval=0.1)
    except AssertionError:
        raise AssertionError(f"{name} not in {sorted(statuses)} after {timeout} s: "
                             f"{rt.registry.get(name)}") from None


def history(clients: Clients, arn: str) -> list[dict[str, Any]]:
    return list(clients.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"])


class InjectedFault(Exception):
    """A failure injected by a test after the real step has done its work."""


def fail_after(state: str) -> Any:
    """An interceptor: the step at `state` does its work, then fails."""
    def interceptor(name: str, event: dict[str, Any], handler: Any) -> Any:
        result = handler(event, None)
        if event.get("state") == state:
            raise InjectedFault(f"injected at {state}")
        return result
    return interceptor


def create(rt: Runtime, stack: LocalMode, name: str = "demo", **kw: Any) -> dict[str, Any]:
    """Create `name` and return its execution once it has ended."""
    record = lifecycle.create_cluster(rt, spec(name, **kw), caller=ALICE)
    assert stack.clients is not None
    return wait_execution(stack.clients, record.execution_arn)


def destroy(rt: Runtime, stack: LocalMode, name: str = "demo") -> dict[str, Any]:
    """Destroy `name` and return its execution once it has ended."""
    record = lifecycle.destroy_cluster(rt, name, caller=ALICE)
    assert stack.clients is not None
    return wait_execution(stack.clients, record.execution_arn)


def exited(clients: Clients, arn: str) -> set[str]:
    """The Task states the execution has left."""
    return {e["stateExitedEventDetails"]["name"] for e in history(clients, arn)
            if e["type"] == "TaskStateExited"}


def open_tasks(clients: Clients, arn: str) -> dict[str, str]:
    """The execution's Task states entered and not yet exited -> how their task was
    scheduled ("invoke", "invoke.waitForTaskToken"; "" before it was)."""
    events = history(clients, arn)
    entered = {e["id"]: e["stateEnteredEventDetails"]["name"] for e in events
               if e["type"] == "TaskStateEntered"}
    out: dict[str, str] = {}
    for e in events:
        if e["type"] == "TaskStateEntered":
            out[entered[e["id"]]] = ""
        elif e["type"] == "TaskScheduled" and e.get("previousEventId") in entered:
            out[entered[e["previousEventId"]]] = e["taskScheduledEventDetails"]["resource"]
        elif e["type"] == "TaskStateExited":
            out.pop(e["stateExitedEventDetails"]["name"], None)
    return out


def scheduler_stopped(stack: LocalMode, rt: Runtime, name: str,
                      exit_code: int) -> dict[str, Any]:
    """The STOPPED event's detail ECS sends when the cluster's scheduler container exits
    with `exit_code` (the agent's task, one version on)."""
    assert stack.agent is not None
    [task] = stack.agent.running(rt.names(name).service("scheduler"))
    detail = fixture_json("fargate_task_running.json")
    detail.update(taskArn=task.arn, clusterArn=task.cluster_arn, group=task.group,
                  createdAt=task.created_at, version=task.version + 1, lastStatus="STOPPED",
                  stoppedReason="Essential container in task exited")
    detail["containers"][0].update(lastStatus="STOPPED", exitCode=exit_code)
    return dict(detail)
