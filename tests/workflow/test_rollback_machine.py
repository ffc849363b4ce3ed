"""A failed create is rolled back by the rollback machine, which the create machine
starts as a nested `states:startExecution.sync` task and waits for (local mode runs it
through the emulator's seam, under local IAM): its outcome is the create's."""

from __future__ import annotations

from typing import Any

from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime
from daskyard.local.stack import LocalMode
from tests.support.clusters import InjectedFault, create, destroy, history, wait_status


def faults(*states: str) -> Any:
    """An interceptor: each step at `states` does its work, then fails."""
    def interceptor(name: str, event: dict[str, Any], handler: Any) -> Any:
        result = handler(event, None)
        if event.get("state") in states:
            raise InjectedFault(f"injected at {event['state']}")
        return result
    return interceptor


def rollbacks(stack: LocalMode) -> list[dict[str, Any]]:
    assert stack.clients is not None and stack.deployment is not None
    sfn = stack.clients.sfn
    [machine] = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                 if m["name"].endswith("-rollback-cluster")]
    return [sfn.describe_execution(executionArn=e["executionArn"])
            for e in sfn.list_executions(stateMachineArn=machine)["executions"]]


def test_the_rollback_machine_removes_a_failed_create_and_the_create_waits_for_it(
        rt: Runtime, stack: LocalMode) -> None:
    assert stack.clients is not None
    stack.router.interceptor = faults("StartScheduler")
    out = create(rt, stack)
    assert (out["status"], out["error"]) == ("FAILED", "ClusterCreateFailed")
    [rollback] = rollbacks(stack)
    assert rollback["status"] == "SUCCEEDED"
    assert '"cluster":"demo"' in rollback["input"].replace(" ", "")
    exited = [e["stateExitedEventDetails"]["name"] for e in history(
        stack.clients, rollback["executionArn"]) if e["type"] == "TaskStateExited"]
    assert exited[0] == "MarkDeleting" and exited[-1] == "MarkRolledBack"
    record = wait_status(rt, "demo", {Status.FAILED})
    assert record.error.endswith("injected at StartScheduler")  # the create's reason kept
    assert stack.leftovers("demo", settle=10) == []


def test_a_rollback_that_fails_records_its_own_reason_and_fails_the_create(
        rt: Runtime, stack: LocalMode) -> None:
    assert stack.clients is not None
    stack.router.interceptor = faults("StartScheduler", "DeleteNetwork")
    out = create(rt, stack)
    assert (out["status"], out["error"]) == ("FAILED", "ClusterRollbackFailed")
    [rollback] = rollbacks(stack)
    assert (rollback["status"], rollback["error"]) == ("FAILED", "ClusterRollbackFailed")
    record = wait_status(rt, "demo", {Status.DELETE_FAILED})
    # The rollback machine's reason, not the nested task's failure over it.
    assert record.error == "InjectedFault: injected at DeleteNetwork", record.error
    assert record.step == "RollbackFailed"
    stack.router.interceptor = None  # a destroy finishes the removal, as the record says
    assert destroy(rt, stack)["status"] == "SUCCEEDED"
    assert stack.leftovers("demo", settle=10) == []
