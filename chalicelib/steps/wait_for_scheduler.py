"""Seed step 6, the wait for the scheduler's address: a Step Functions callback, not a
poll. The logic it shares with the event handler is in discovery.py."""

from __future__ import annotations

from chalicelib.core.runtime import Runtime
from chalicelib.discovery import await_address
from chalicelib.steps import StepCall, StepResult


def create(rt: Runtime, call: StepCall) -> StepResult:
    return {"completed": await_address(rt.clients, rt.registry, call.cluster, call.event.token)}
