"""A cluster's step timeline, read from its state machine execution's history: every
state the execution entered, in the order it entered them, with when it started and
ended, how it ended and how many attempts its task took. The history is complete (not
sampled), so a fast step is listed as surely as a slow one."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

# How a step ended. RUNNING: not yet; STOPPED: the execution ended around it (a parallel
# branch cancelled when another failed).
SUCCEEDED, FAILED, RUNNING, STOPPED = "SUCCEEDED", "FAILED", "RUNNING", "STOPPED"
_TASK_FAILURES = ("TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed",
                  "LambdaFunctionFailed", "LambdaFunctionTimedOut",
                  "LambdaFunctionStartFailed", "LambdaFunctionScheduleFailed")
_EXECUTION_ENDS = {"ExecutionSucceeded": SUCCEEDED, "ExecutionFailed": FAILED,
                   "ExecutionAborted": STOPPED, "ExecutionTimedOut": FAILED}
MAX_ERROR = 300  # an error is a pointer to the record's reason, not the whole cause


def _details(event: dict[str, Any]) -> dict[str, Any]:
    return next((v for k, v in event.items() if k.endswith("EventDetails")), {})


def _stamp(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _error(event: dict[str, Any]) -> str:
    """`error: cause`; a Lambda's cause is its error as JSON, whose message is the point."""
    details = _details(event)
    cause = str(details.get("cause", ""))
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            cause = str(parsed.get("errorMessage") or cause)
    except ValueError:
        pass
    return ": ".join(p for p in (str(details.get("error", "")), cause) if p)[:MAX_ERROR]


def steps(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps of one execution's history events (in id order, as GetExecutionHistory
    gives them): [{name, type, start, end, outcome, attempts, error}], in the order
    the states were entered. An event is a step's when its `previousEventId` chain leads
    to the step's StateEntered event."""
    out: list[dict[str, Any]] = []
    owner: dict[int, int] = {}  # event id -> index in out
    for event in sorted(history, key=lambda e: int(e["id"])):
        kind, at = str(event["type"]), _stamp(event["timestamp"])
        eid, previous = int(event["id"]), int(event.get("previousEventId") or 0)
        mine = owner.get(previous)
        if kind.endswith("StateEntered"):
            owner[eid] = len(out)
            out.append({"name": _details(event).get("name", ""),
                        "type": kind.removesuffix("StateEntered"), "start": at, "end": None,
                        "outcome": RUNNING, "attempts": 0, "error": ""})
            continue
        if kind.endswith("StateExited"):
            name = _details(event).get("name", "")
            mine = next((i for i in range(len(out) - 1, -1, -1)
                         if out[i]["name"] == name and out[i]["end"] is None), mine)
            if mine is not None:
                failed = out[mine]["outcome"] == FAILED  # caught by its own Catch
                out[mine].update(end=at, outcome=FAILED if failed else SUCCEEDED,
                                 error=out[mine]["error"] if failed else "")
            continue
        if kind in _EXECUTION_ENDS:
            for step in out:
                if step["end"] is None:
                    ended = FAILED if step["type"] == "Fail" else STOPPED
                    step.update(end=at, outcome=ended,
                                error=step["error"] or (_error(event) if ended == FAILED
                                                        else ""))
            continue
        if kind.startswith(("Parallel", "Map")):  # the container state's own events
            if kind.endswith("StateFailed"):
                open_ = [s for s in out if s["type"] == kind[:-len("StateFailed")]
                         and s["end"] is None]
                if open_:
                    open_[-1]["outcome"] = FAILED
            continue
        if mine is None:
            continue
        owner[eid] = mine
        step = out[mine]
        if kind in ("TaskScheduled", "LambdaFunctionScheduled"):
            step.update(attempts=step["attempts"] + 1, end=None, outcome=RUNNING)
        elif kind in _TASK_FAILURES:
            # Failed for now: a retry schedules the task again; a Catch moves on.
            step.update(end=at, outcome=FAILED, error=_error(event))
    return out


def read(sfn: Any, execution_arn: str) -> tuple[list[dict[str, Any]], bool]:
    """The steps of `execution_arn` (its whole history, read page by page) and whether
    the execution has ended."""
    events: list[dict[str, Any]] = []
    request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**request)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return steps(events), any(e["type"] in _EXECUTION_ENDS for e in events)
        request["nextToken"] = page["nextToken"]
