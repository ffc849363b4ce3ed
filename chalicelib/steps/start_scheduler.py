"""Seed step 6, first: the scheduler service. Its address arrives by event (discovery)."""

from __future__ import annotations

from chalicelib.discovery import drop_address
from chalicelib.services import ensure_service, remove_service
from chalicelib.steps import StepContext, StepResult


def create(ctx: StepContext) -> StepResult:
    arn = ensure_service(ctx, "scheduler", 1)
    ctx.remember("services", {**ctx.record.resources.get("services", {}), "scheduler": arn})
    return {"scheduler": arn}


def delete(ctx: StepContext) -> StepResult:
    """The service, and the address parameter its tasks' events wrote: owned here, so a
    destroy removes it even when no STOPPED event comes (or comes late)."""
    remove_service(ctx, "scheduler")
    drop_address(ctx.clients, ctx.cluster)
    return {}
