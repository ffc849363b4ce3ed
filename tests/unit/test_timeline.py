"""The step timeline from execution history events (their shape as Step Functions
gives them): retries, failures, parallel branches and steps still running."""

from __future__ import annotations

from typing import Any

from chalicelib.timeline import steps


def event(eid: int, previous: int, kind: str, second: int, name: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"id": eid, "previousEventId": previous, "type": kind,
                           "timestamp": f"2026-11-27T10:00:{second:02d}+00:00"}
    if name:  # a state's entered and exited events name it
        side = "Entered" if kind.endswith("Entered") else "Exited"
        out[f"state{side}EventDetails"] = {"name": name}
    return out


def failed(eid: int, previous: int, second: int, error: str, message: str) -> dict[str, Any]:
    return {"id": eid, "previousEventId": previous, "type": "TaskFailed",
            "timestamp": f"2026-11-27T10:00:{second:02d}+00:00",
            "taskFailedEventDetails": {"error": error,
                                       "cause": f'{{"errorMessage": "{message}"}}'}}


def test_a_retried_step_that_succeeds_counts_its_attempts_and_keeps_no_error() -> None:
    history = [
        event(1, 0, "ExecutionStarted", 0),
        event(2, 1, "TaskStateEntered", 0, name="WaitForNotebook"),
        event(3, 2, "TaskScheduled", 0),
        failed(4, 3, 1, "NotReady", "not serving yet"),
        event(5, 4, "TaskScheduled", 2),
        event(6, 5, "TaskSucceeded", 3),
        event(7, 6, "TaskStateExited", 3, name="WaitForNotebook"),
        event(8, 7, "TaskStateEntered", 3, name="PublishEndpoints"),
        event(9, 8, "TaskScheduled", 3),
    ]
    wait, publish = steps(history)
    assert (wait["name"], wait["outcome"], wait["attempts"], wait["error"]) == \
        ("WaitForNotebook", "SUCCEEDED", 2, "")
    assert wait["start"].endswith("00:00+00:00") and wait["end"].endswith("00:03+00:00")
    assert (publish["outcome"], publish["end"]) == ("RUNNING", None)


def test_a_failed_step_in_a_branch_and_its_cancelled_sibling() -> None:
    history = [
        event(1, 0, "ExecutionStarted", 0),
        event(2, 1, "ParallelStateEntered", 0, name="Connect"),
        event(3, 2, "ParallelStateStarted", 0),
        event(4, 3, "TaskStateEntered", 0, name="WaitForScheduler"),
        event(5, 3, "TaskStateEntered", 0, name="StartWorkers"),
        event(6, 4, "TaskScheduled", 0),
        event(7, 5, "TaskScheduled", 0),
        failed(8, 7, 2, "NotebookFailed", "the notebook did not start"),
        event(9, 8, "ParallelStateFailed", 2),
        event(10, 9, "ParallelStateExited", 2, name="Connect"),
        {"id": 11, "previousEventId": 10, "type": "ExecutionFailed",
         "timestamp": "2026-11-27T10:00:05+00:00",
         "executionFailedEventDetails": {"error": "ClusterCreateFailed", "cause": "see record"}},
    ]
    out = {s["name"]: s for s in steps(history)}
    assert [s["name"] for s in steps(history)] == ["Connect", "WaitForScheduler",
                                                    "StartWorkers"]
    assert out["Connect"]["outcome"] == "FAILED"
    assert out["StartWorkers"]["outcome"] == "FAILED"
    assert out["StartWorkers"]["error"] == "NotebookFailed: the notebook did not start"
    assert out["WaitForScheduler"]["outcome"] == "STOPPED"
    assert out["WaitForScheduler"]["end"].endswith("00:05+00:00")
