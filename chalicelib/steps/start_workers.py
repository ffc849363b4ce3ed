"""Seed step 6, then: the workers and, when asked for, the notebook. They read the
scheduler's address from SSM at start, so their order against the scheduler is free.
WaitForNotebook (wait_for_notebook.py) holds the cluster back from READY until Jupyter
answers."""

from __future__ import annotations

from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult
from chalicelib.steps.services import delete_service, ensure_service


def create(rt: Runtime, call: StepCall) -> StepResult:
    services = dict(call.record.resources.services)
    services["worker"] = ensure_service(rt, call, "worker", call.spec.workers)
    if call.spec.notebook:
        services["notebook"] = ensure_service(rt, call, "notebook", 1)
    call.remember(services=services)
    return services


def delete(rt: Runtime, call: StepCall) -> StepResult:
    delete_service(rt, call, "worker")
    delete_service(rt, call, "notebook")
    return {}
