"""The status bookkeeping states of both machines: MarkDeleting (which waits for create
steps still in flight), the final marks (DELETED, FAILED, DELETE_FAILED), and the create
machine's RecordFailure, which decides whether this execution rolls back."""

from __future__ import annotations

import json
import time

from chalicelib import notify
from chalicelib.core.errors import NotReady
from chalicelib.core.models import Status
from chalicelib.core.observability import count
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult

MAX_ERROR = 1000
FINAL = (Status.DELETED, Status.FAILED, Status.DELETE_FAILED)


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


def mark(rt: Runtime, call: StepCall) -> StepResult:
    """DELETING (waiting while a create step is still in flight), or a final status, with
    the reason when the event carries an error, announced to whoever asked."""
    event, state = call.event, call.event.state or call.event.action
    status = event.status or Status.DELETING
    if status == Status.DELETING:
        record = rt.registry.settle(call.cluster, state)
        if record is None:
            return {"status": "missing"}
        running = sorted(s for s, until in record.lease.inflight.items() if until > time.time())
        if running:  # a create step passed its check before DELETING: let it finish
            raise NotReady(f"create steps still running: {', '.join(running)}")
        return {"status": record.status.value}
    if status not in FINAL:
        raise ValueError(f"mark: {status.value} is not a final status")
    record = rt.registry.finish(call.cluster, status, state, reason(event.error))
    if record is None:
        return {"status": "missing"}
    count("Clusters" + {Status.DELETED: "Destroyed", Status.FAILED: "RolledBack",
                        Status.DELETE_FAILED: "DestroyFailed"}[status])
    return {"status": record.status.value,
            "announced": notify.announce(rt.clients, rt.settings, record)}


def rollback(rt: Runtime, call: StepCall) -> StepResult:
    """A create failed: record why and say whether this execution rolls back (the create
    machine's Choice reads `rollback`). A cluster being destroyed already (a DELETE that
    stopped this create) has its destroy running; any other is rolled back here."""
    why = reason(call.event.error)
    if why.endswith(": ") and call.record.error.startswith(why):
        why = call.record.error  # a cause-less error whose reason a step already recorded
    failed_in = call.record.step or "Queued"  # the state the create was in
    if rt.registry.begin_rollback(call.cluster, call.event.state, why) is None:
        return {"rollback": False}
    count("ClustersFailed", step=failed_in)
    return {"rollback": True}
