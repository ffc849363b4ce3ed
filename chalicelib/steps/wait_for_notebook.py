"""Seed step 6, after the workers: the cluster is READY only once the notebook it
promised answers (its health check passed)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib.core.errors import NotebookFailed, NotReady
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult

# A notebook task that stopped this often before answering will not: ECS would go on
# restarting it, and the cluster would never have the notebook it promised.
NOTEBOOK_STOPS = 3


def wait(rt: Runtime, call: StepCall) -> StepResult:
    """Done when the notebook serves (its health check passed: the task event said
    HEALTHY, or ECS says so now); NotebookFailed, with the reason, when its task keeps
    stopping; NotReady, which the machine retries, meanwhile."""
    record = call.record
    if not record.spec.notebook:
        return {"notebook": "none"}
    if record.notebook.status == "SERVING":
        return {"notebook": "serving"}
    if record.notebook.stops >= NOTEBOOK_STOPS:
        raise NotebookFailed(
            f"the notebook did not start: its task stopped {record.notebook.stops} times, "
            f"last: {record.notebook.error}; its output is in the log group "
            f"{record.resources.log_group or call.names.log_group()} (stream prefix notebook)")
    if record.notebook.task and _healthy_on_ecs(rt, call, record.notebook.task):
        rt.registry.notebook.serving(call.cluster, record.notebook.task)
        return {"notebook": "serving"}
    state = "no task running yet" if not record.notebook.task else \
        f"its task runs and its health check (Jupyter on {record.notebook.url}) has not passed"
    raise NotReady(f"the notebook is not serving yet: {state}")


def _healthy_on_ecs(rt: Runtime, call: StepCall, task: str) -> bool:
    """ECS's own view of the task's health (task events need not carry it)."""
    try:
        found = rt.clients.ecs.describe_tasks(cluster=call.names.base(), tasks=[task])
    except ClientError:
        return False
    return any(t.get("healthStatus") == "HEALTHY" for t in found.get("tasks", []))
