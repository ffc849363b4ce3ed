"""Tasks that end on their own, on the cluster's record: ECS stops such a task with
stopCode EssentialContainerExited (its command exited) and starts another, slower each
time it keeps failing. Each such stop is recorded per role, counted, with its exit code,
ECS's reason and the task's last lines from CloudWatch Logs (chalicelib.logs), so a
task that keeps crashing is plain to see in `GET /clusters/{name}`."""

from __future__ import annotations

from chalicelib import logs
from chalicelib.core.models import TaskCrash
from chalicelib.core.observability import logger
from chalicelib.core.runtime import Runtime
from chalicelib.task_events import TaskEvent

LAST_LINES = 10
# ECS's stopCode for a task whose essential container exited on its own.
EXITED = "EssentialContainerExited"


def react(rt: Runtime, event: TaskEvent) -> str:
    """Returns what was done ("" for anything but a crash of one of our tasks). A
    scheduler's idle exit is no crash (idle.py destroys its cluster)."""
    if event.status != "STOPPED" or event.stop_code != EXITED or event.idle_exit:
        return ""
    previous = rt.registry.get(event.cluster)
    if previous is None:
        return ""
    latest = previous.crashes.get(event.role)
    if latest is not None and latest.task == event.task_id:
        return ""  # ECS delivered this stop again (or Lambda retried the event)
    names = rt.names(event.cluster)
    lines = logs.last_lines(rt.clients.logs, names.log_group(),
                            names.log_stream(event.role, event.task_id), LAST_LINES)
    crash = TaskCrash(
        count=(latest.count if latest is not None else 0) + 1,
        at=event.stopped_at or event.updated_at, task=event.task_id,
        exit_code=event.exit_code, reason=event.stopped_reason, last_lines=lines)
    if not rt.registry.crashes.record(event.cluster, event.role, crash):
        return ""
    logger.warning("task ended on its own", cluster=event.cluster, role=event.role,
                   task=event.task_id, exit_code=crash.exit_code, count=crash.count)
    return f"crash {crash.count} of {event.role} recorded"
