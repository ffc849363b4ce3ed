"""Seed step 6, last: mark the cluster READY (its scheduler and dashboard addresses were
recorded by the event that published them) and tell whoever asked."""

from __future__ import annotations

from chalicelib import notify
from chalicelib.core.observability import count, seconds
from chalicelib.core.registry import now
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult


def create(rt: Runtime, call: StepCall) -> StepResult:
    done = rt.registry.mark_ready(call.cluster)
    if done is None:  # a destroy that began meanwhile wins
        return {"status": "unchanged"}
    count("ClustersReady")
    seconds("TimeToReady", (now() - done.created_at).total_seconds())
    announced = notify.announce(rt.clients, rt.settings, done)
    return {"status": done.status.value, "announced": announced}
