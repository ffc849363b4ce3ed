"""Seed step 6, first: the scheduler service. Its address arrives by event (discovery)."""

from __future__ import annotations

from chalicelib.services import ensure_service, remove_service
from chalicelib.steps import StepContext, StepResult


def create(ctx: StepContext) -> StepResult:
    arn = ensure_service(ctx, "scheduler", 1)
    ctx.remember("services", {**ctx.record.resources.get("services", {}), "scheduler": arn})
    return {"scheduler": arn}


def delete(ctx: StepContext) -> StepResult:
    remove_service(ctx, "scheduler")
    return {}
