"""Seed step 6, last: record the dashboard and notebook links and mark the cluster READY."""

from __future__ import annotations

from chalicelib import naming, notify
from chalicelib.models import Status
from chalicelib.steps import StepContext, StepResult


def create(ctx: StepContext) -> StepResult:
    record = ctx.record
    host = record.public_ip or record.scheduler_address.removeprefix("tcp://").rsplit(":", 1)[0]
    fields = {"status": Status.READY.value, "step": "Ready",
              "dashboard_url": f"http://{host}:{naming.DASHBOARD_PORT}/status"}
    # Only a CREATING cluster becomes READY: a destroy that began meanwhile wins.
    done = ctx.registry.update(ctx.cluster, condition="#status = :creating",
                               condition_values={":creating": Status.CREATING.value}, **fields)
    if done is None:
        return {"status": "unchanged"}
    return {"status": done.status.value,
            "announced": notify.announce(ctx.clients, ctx.settings, done)}


def delete(ctx: StepContext) -> StepResult:
    return {}
