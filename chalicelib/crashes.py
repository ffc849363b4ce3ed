"""Tasks that end on their own, on the cluster's record: ECS stops such a task with
stopCode EssentialContainerExited (its command exited) and starts another, slower each
time it keeps failing. Each such stop is recorded per role, counted, with its exit code,
ECS's reason and the task's last lines from CloudWatch Logs (chalicelib.logs), so a
task that keeps crashing is plain to see in `GET /clusters/{name}`."""

from __future__ import annotations

from typing import Any

from chalicelib import logs
from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.models import TaskCrash
from chalicelib.core.observability import logger
from chalicelib.core.registry import Registry

LAST_LINES = 10


def record(detail: dict[str, Any], clients: Clients, registry: Registry, stage: str) -> str:
    """Returns what was done ("" for anything but a crash of one of our tasks)."""
    ours = naming.cluster_from_group(stage, str(detail.get("group", "")))
    if (ours is None or detail.get("lastStatus") != "STOPPED"
            or detail.get("stopCode") != "EssentialContainerExited"):
        return ""
    cluster, service = ours
    role = naming.ROLE_OF_SERVICE[service]
    task_id = str(detail.get("taskArn", "")).rsplit("/", 1)[-1]
    containers = detail.get("containers") or [{}]
    exit_code = containers[0].get("exitCode")
    names = naming.Names(stage, cluster)
    previous = registry.get(cluster)
    if previous is None:
        return ""
    lines = logs.last_lines(clients.logs, names.log_group(), names.log_stream(role, task_id),
                            LAST_LINES)
    crash = TaskCrash(
        count=(previous.crashes[role].count if role in previous.crashes else 0) + 1,
        at=str(detail.get("stoppedAt") or detail.get("updatedAt") or ""), task=task_id,
        exit_code=exit_code if isinstance(exit_code, int) else None,
        reason=str(detail.get("stoppedReason", "")), last_lines=lines)
    if not registry.crashes.record(cluster, role, crash):
        return ""
    logger.warning("task ended on its own", cluster=cluster, role=role, task=task_id,
                   exit_code=crash.exit_code, count=crash.count)
    return f"crash {crash.count} of {role} recorded"
