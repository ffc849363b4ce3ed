"""Seed step 6, first: the scheduler service. Its address arrives by event (discovery.py)."""

from __future__ import annotations

from chalicelib.core.runtime import Runtime
from chalicelib.discovery import delete_address
from chalicelib.parameters import delete_adapt
from chalicelib.steps import StepCall, StepResult
from chalicelib.steps.services import delete_service, ensure_service


def create(rt: Runtime, call: StepCall) -> StepResult:
    arn = ensure_service(rt, call, "scheduler", 1)
    call.remember(services={**call.record.resources.services, "scheduler": arn})
    return {"scheduler": arn}


def delete(rt: Runtime, call: StepCall) -> StepResult:
    """The service, the address parameter its tasks' events wrote (owned here, so a
    destroy removes it even when no STOPPED event comes, or comes late) and the adaptive
    bounds the API wrote for it."""
    delete_service(rt, call, "scheduler")
    delete_address(rt.clients, call.names)
    delete_adapt(rt.clients, call.names)
    return {}
