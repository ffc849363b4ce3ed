"""Status bookkeeping states of both machines: MarkDeleting, RecordFailure, MarkDone."""

from __future__ import annotations

import json

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


def create(ctx: StepContext) -> StepResult:
    """Set the status the event names (the final one of a destroy, or DELETING with the
    reason of a failure); a cluster already DELETED is left alone."""
    event = ctx.event
    fields: dict[str, object] = {"status": (event.status or Status.DELETING).value,
                                 "step": event.state or event.action}
    if event.error:
        fields["error"] = reason(event.error)
    if fields["status"] == Status.DELETING.value:
        fields["task_token"] = ""
    record = ctx.registry.update(ctx.cluster, **fields)
    return {"status": record.status.value if record else "missing"}
