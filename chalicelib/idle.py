"""Idle shutdown: a scheduler idle past its timeout (no task and no client; see
images/daskyard_scheduler.py) exits with naming.EXIT_IDLE, and its task's STOPPED
event, besides what discovery does with it, starts the destroy of its cluster, as the
stage's own caller, with the reason recorded and told to whoever asked for the cluster.

Only a READY cluster's current scheduler counts: one that idles out while its cluster is
still being created is started again by its service, with a fresh idle clock."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from chalicelib import lifecycle, scheduler
from chalicelib.core import naming
from chalicelib.core.errors import ClusterBusy, ClusterNotFound
from chalicelib.core.identity import SYSTEM
from chalicelib.core.models import Status
from chalicelib.core.observability import count, logger
from chalicelib.core.runtime import Runtime


def handle_task_event(rt: Runtime, detail: dict[str, Any]) -> str:
    """Discovery first (scheduler.handle_task_event), then the idle destroy."""
    done = scheduler.handle_task_event(detail, rt.clients, rt.registry, rt.settings.stage)
    ours = naming.cluster_from_group(rt.settings.stage, str(detail.get("group", "")))
    if ours is None or ours[1] != "scheduler" or detail.get("lastStatus") != "STOPPED":
        return done
    try:
        task = scheduler.TaskDetail.model_validate(detail)
    except ValidationError:
        return done  # discovery has logged it
    if not any(c.exitCode == naming.EXIT_IDLE for c in task.containers):
        return done
    return f"{done}; {destroy_idle(rt, ours[0], task.taskArn)}"


def destroy_idle(rt: Runtime, cluster: str, task: str) -> str:
    record = rt.registry.get(cluster)
    if record is None or record.status != Status.READY or record.scheduler.task != task:
        return "idle exit ignored: not the current scheduler of a READY cluster"
    minutes = record.spec.idle_timeout_minutes
    minutes = rt.settings.idle_timeout_minutes if minutes is None else minutes
    reason = f"idle for {minutes} minute{'' if minutes == 1 else 's'} (no tasks, no client)"
    try:
        lifecycle.destroy_cluster(rt, cluster, caller=SYSTEM, reason=reason)
    except (ClusterBusy, ClusterNotFound) as exc:  # a destroy began meanwhile, or a duplicate event
        return f"idle exit ignored: {exc}"
    count("ClustersIdleDestroyed")
    logger.info("idle cluster destroyed", cluster=cluster, reason=reason)
    return f"destroying: {reason}"
