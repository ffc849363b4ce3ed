"""The notebook's state on the record, from its task's events: RUNNING, its URL
(STARTING); RUNNING and HEALTHY, Jupyter answers (SERVING), which WaitForNotebook waits
for; STOPPED, why, counted, so a crash loop fails the create with its reason instead of
a READY cluster whose notebook never answers."""

from __future__ import annotations

from chalicelib.core import naming
from chalicelib.core.runtime import Runtime
from chalicelib.discovery import endpoint
from chalicelib.task_events import TaskEvent


def react(rt: Runtime, event: TaskEvent) -> str:
    """Returns what was done ("" for anything but a notebook's RUNNING or STOPPED)."""
    if event.role != "notebook":
        return ""
    if event.status == "STOPPED":
        code = event.exit_code
        why = (event.stopped_reason or "stopped") + \
            (f" (exit code {code})" if code is not None else "")
        rt.registry.notebook.stopped(event.cluster, event.task_arn, why)
        return f"notebook stopped: {why}"
    if event.status != "RUNNING":
        return ""
    found = endpoint(event, rt.clients, naming.NOTEBOOK_PORT)
    if found is None:
        return "ignored: no address in event"
    host = found.public_ip or found.private_ip
    serving = event.health == "HEALTHY"
    rt.registry.notebook.publish(event.cluster, event.task_arn, found.private_ip,
                                 f"http://{host}:{naming.NOTEBOOK_PORT}/lab", serving)
    return "notebook serving" if serving else "notebook published"
