"""Status bookkeeping states of both machines: MarkDeleting, MarkDone, and the
create machine's RecordFailure, which starts the rollback."""

from __future__ import annotations

import json
import time
from typing import Any

from chalicelib import notify
from chalicelib.errors import NotReady
from chalicelib.models import Status
from chalicelib.steps import StepContext, StepResult

MAX_ERROR = 1000


def reason(error: dict[str, object] | None) -> str:
    """A Catch gives {'Error': name, 'Cause': text or a Lambda error as JSON}."""
    if not error:
        return ""
    name, cause = str(error.get("Error", "")), str(error.get("Cause", ""))
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            cause = str(parsed.get("errorMessage") or parsed.get("cause") or cause)
    except ValueError:
        pass
    return f"{name}: {cause}"[:MAX_ERROR]


def mark(ctx: StepContext) -> StepResult:
    """Set the status the event names (DELETING, or the final one of a destroy), with the
    reason when the event carries an error."""
    event = ctx.event
    fields: dict[str, Any] = {"status": (event.status or Status.DELETING).value,
                                 "step": event.state or event.action}
    if event.error:
        fields["error"] = reason(event.error)
    if fields["status"] == Status.DELETING.value:
        fields["task_token"] = fields["image_token"] = ""
    record = ctx.registry.update(ctx.cluster, **fields)
    if record is None:
        return {"status": "missing"}
    if record.status == Status.DELETING:
        running = sorted(s for s, until in record.inflight.items() if until > time.time())
        if running:  # a create step passed its check before DELETING: let it finish
            raise NotReady(f"create steps still running: {', '.join(running)}")
    announced = 0
    if record.status in (Status.DELETED, Status.FAILED):  # a destroy's final mark
        announced = notify.announce(ctx.clients, ctx.settings, record)
    return {"status": record.status.value, "announced": announced}


def rollback(ctx: StepContext) -> StepResult:
    """A create failed: record why, and start the destroy machine on what was made.
    It runs on its own (a Lambda call, portable, where a nested .sync execution is not
    in the emulator) and ends by marking the cluster FAILED."""
    from chalicelib.lifecycle import start_destroy

    why = reason(ctx.event.error)
    if why.endswith(": ") and ctx.record.error.startswith(why):
        why = ctx.record.error  # a cause-less error whose reason a step already recorded
    # A cluster being destroyed already (a DELETE that stopped this create) has its
    # destroy running; any other (CREATING, or READY when the last step failed late)
    # is rolled back here.
    if ctx.registry.update(ctx.cluster, condition="#status IN (:creating, :ready)",
                           condition_values={":creating": Status.CREATING.value,
                                             ":ready": Status.READY.value},
                           status=Status.DELETING.value, step=ctx.event.state, error=why,
                           task_token="", image_token="") is None:
        return {"rollback": "already being destroyed"}
    arn = start_destroy(ctx.clients.sfn, ctx.settings, ctx.cluster, Status.FAILED)
    ctx.registry.update(ctx.cluster, execution_arn=arn)
    return {"rollback": arn}
