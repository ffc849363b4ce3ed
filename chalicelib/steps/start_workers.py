"""Seed step 6, then: the workers and, when asked for, the notebook. They read the
scheduler's address from SSM at start, so their order against the scheduler is free."""

from __future__ import annotations

from chalicelib.services import ensure_service, remove_service
from chalicelib.steps import StepContext, StepResult


def create(ctx: StepContext) -> StepResult:
    services = dict(ctx.record.resources.get("services", {}))
    services["worker"] = ensure_service(ctx, "worker", ctx.spec.workers)
    if ctx.spec.notebook:
        services["notebook"] = ensure_service(ctx, "notebook", 1)
    ctx.remember("services", services)
    return services


def delete(ctx: StepContext) -> StepResult:
    remove_service(ctx, "worker")
    remove_service(ctx, "notebook")
    return {}
