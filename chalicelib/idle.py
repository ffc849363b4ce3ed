"""Idle shutdown: a scheduler idle past its timeout (no task and no client; see
images/daskyard_scheduler.py) exits with naming.EXIT_IDLE, and its task's STOPPED
event starts the destroy of its cluster, as the stage's own caller, with the reason
recorded and told to whoever asked for the cluster.

Only a READY cluster's current scheduler counts: one that idles out while its cluster is
still being created is started again by its service, with a fresh idle clock."""

from __future__ import annotations

from chalicelib import lifecycle
from chalicelib.core.errors import ClusterBusy, ClusterNotFound
from chalicelib.core.identity import SYSTEM
from chalicelib.core.models import Status
from chalicelib.core.observability import count, logger
from chalicelib.core.runtime import Runtime
from chalicelib.task_events import TaskEvent


def react(rt: Runtime, event: TaskEvent) -> str:
    """Returns what was done ("" for anything but an idle scheduler's exit)."""
    return destroy_idle(rt, event.cluster, event.task_arn) if event.idle_exit else ""


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
