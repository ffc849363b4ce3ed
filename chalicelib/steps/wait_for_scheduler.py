"""The wait for the scheduler's address: a Step Functions callback, not a poll.

This state stores its task token on the record; discovery stores the address. Each
side writes its half and reads the other's in one atomic update, so whichever comes
second completes the wait (if the scheduler was already running, at once)."""

from __future__ import annotations

from chalicelib.discovery import complete_wait
from chalicelib.errors import InvalidRequest
from chalicelib.steps import StepContext, StepResult


def create(ctx: StepContext) -> StepResult:
    token = ctx.event.token
    if not token:
        raise InvalidRequest("WaitForScheduler needs the task token ($$.Task.Token)")
    record = ctx.registry.update(ctx.cluster, task_token=token, step="WaitForScheduler")
    if record is not None and record.scheduler_address and not record.scheduler_stale:
        complete_wait(ctx.clients.sfn, record)
    return {"waiting": True}


def delete(ctx: StepContext) -> StepResult:
    return {}
