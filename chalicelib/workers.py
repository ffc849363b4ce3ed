"""The record follows the workers. Whatever changes the workers service (an adapt
decision of the scheduler, a scale, a crash, ECS replacing a task), each worker task's
state change event (the discovery rule already delivers them) updates the record: the
task's state, the service's desired count (read once per event: the event does not carry
it) and the RUNNING tasks counted from the events, then `cost_per_hour` at the running
workers' price, with the cost at the earlier rate accrued up to now. So `status` shows
what runs and what it costs while adapt is on, not what the cluster was created with."""

from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib.core import pricing
from chalicelib.core.observability import logger
from chalicelib.core.runtime import Runtime
from chalicelib.task_events import TaskEvent

# A few tries when another worker event's write comes between the read and the write.
WRITE_TRIES = 5


def react(rt: Runtime, event: TaskEvent) -> str:
    """Returns what was done ("" for anything but one of our worker tasks' RUNNING or
    STOPPED)."""
    if event.role != "worker" or event.status not in ("RUNNING", "STOPPED"):
        return ""
    cluster, task = event.cluster, event.task_id
    if not task:
        return ""
    if rt.registry.workers.task(cluster, task, running=event.status == "RUNNING") is None:
        return ""  # a duplicate or late event, or a cluster no longer live
    desired = _desired(rt, cluster)
    for _ in range(WRITE_TRIES):
        before = rt.registry.get(cluster)
        if before is None:
            return ""
        running = sum(state == "RUNNING" for state in before.workers.tasks.values())
        spec = before.spec.model_copy(update={"workers": running})
        rate = pricing.hourly(spec, rt.settings.prices, public_ips=rt.settings.assign_public_ip)
        known = before.workers.desired if desired is None else desired
        after = rt.registry.workers.seen(
            cluster, before.spec.workers if known is None else known, running, rate, before)
        if after is not None:
            return f"workers {after.workers.running} running of {after.workers.desired}"
    logger.warning("worker counts not recorded: the record kept changing", cluster=cluster)
    return ""


def _desired(rt: Runtime, cluster: str) -> int | None:
    """The workers service's desiredCount; None when it cannot be read (being deleted)."""
    names = rt.names(cluster)
    try:
        found = rt.clients.ecs.describe_services(cluster=names.base(),
                                                 services=[names.service("worker")])
    except ClientError as exc:
        logger.info("workers service not readable", cluster=cluster,
                    code=exc.response["Error"]["Code"])
        return None
    services = found.get("services") or []
    return int(services[0]["desiredCount"]) if services else None
