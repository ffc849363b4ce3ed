"""Generates the state machines: stepfunctions/create_cluster.asl.json,
rollback_cluster.asl.json and destroy_cluster.asl.json from the step table
(chalicelib/steps/table.py: each Task state's Lambda, action and retrier) and the ASL each
Task adds here (TASKS), so each retrier, payload and teardown step is written once; and
teardown.asl.json, the nightly run's and the expiry's fan-out over the due clusters. The
JSON files stay checked in: CloudFormation and local mode read them
(daskyard/local/asl.py), and a review sees the ASL itself.

    python -m deploy.asl           # write the files
    python -m deploy.asl --check   # exit 1, naming the file, if writing would change it

Every Task invokes one of the app's Lambdas as `${<Name>Arn}` (the create's rollback
starts the rollback machine, `${RollbackClusterStateMachineArn}`), a placeholder filled by
CloudFormation (DefinitionSubstitutions) or by local mode (daskyard/local/asl.py, which
reads the files where the wheel or this checkout has them). The deploy tooling reads
them here (`raw`, `placeholders`): it runs from a checkout, and does not import local
mode.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chalicelib.steps.table import BY_STATE
from deploy import generated

State = dict[str, Any]
States = dict[str, State]

# Where the *.asl.json files are written; read at each call, so it may be pointed elsewhere.
ASL_DIR = Path(__file__).resolve().parents[1] / "stepfunctions"
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def raw(name: str) -> str:
    """The checked-in ASL of `name` (create_cluster, destroy_cluster), placeholders and all."""
    return (ASL_DIR / f"{name}.asl.json").read_text()


def placeholders(name: str) -> set[str]:
    return set(PLACEHOLDER.findall(raw(name)))

# The named retriers. In a Retry list the specific NotReady one goes before THROTTLED.
# FULL jitter: executions of many clusters that hit the same limit do not retry in step.
THROTTLED: State = {
    "Comment": "Throttling or a transient Lambda/AWS error: it passes; back off and retry.",
    "ErrorEquals": ["Throttled", "Lambda.TooManyRequestsException", "Lambda.ServiceException",
                    "Lambda.AWSLambdaException", "Lambda.SdkClientException"],
    "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2.0, "JitterStrategy": "FULL",
}
AWS_NOT_READY: State = {
    "Comment": "An AWS resource is still settling (EFS mount targets, ENIs being released): "
               "poll, at most 30 s apart, until it is.",
    "ErrorEquals": ["NotReady"],
    "IntervalSeconds": 10, "MaxAttempts": 40, "BackoffRate": 1.2, "MaxDelaySeconds": 30,
    "JitterStrategy": "FULL",
}
STEPS_IN_FLIGHT: State = {
    "Comment": "A create step's Lambda that began before the teardown is still running: "
               "wait for it to end, so nothing is made after its delete twin ran.",
    "ErrorEquals": ["NotReady"],
    "IntervalSeconds": 1, "MaxAttempts": 30, "BackoffRate": 1.5, "MaxDelaySeconds": 10,
    "JitterStrategy": "FULL",
}
NOTEBOOK_STARTING: State = {
    "Comment": "The notebook task runs but Jupyter does not answer yet (image pull, first "
               "start): look again, 5 s apart at most (full jitter), up to 120 times.",
    "ErrorEquals": ["NotReady"],
    "IntervalSeconds": 5, "MaxAttempts": 120, "BackoffRate": 1.0, "JitterStrategy": "FULL",
}
MOUNT_TARGETS: State = {
    "Comment": "EFS mount targets take about a minute and a half (and have taken over ten): "
               "look again within 5 s (2.5 on average), for 20 minutes on average; no "
               "backoff, as each second past their time is one the workers wait.",
    "ErrorEquals": ["NotReady"],
    "IntervalSeconds": 5, "MaxAttempts": 480, "BackoffRate": 1.0, "JitterStrategy": "FULL",
}
SPARE_BEING_MADE: State = {
    "Comment": "A new spare file system is still being made (seconds on AWS): look again "
               "while the scheduler's task starts, for about half a minute at most.",
    "ErrorEquals": ["NotReady"],
    "IntervalSeconds": 3, "MaxAttempts": 6, "BackoffRate": 1.5, "MaxDelaySeconds": 10,
    "JitterStrategy": "FULL",
}
EXECUTIONS_AT_QUOTA: State = {
    "Comment": "The account's open executions are at their quota: it passes; back off.",
    "ErrorEquals": ["StepFunctions.ExecutionLimitExceededException"],
    "IntervalSeconds": 5, "MaxAttempts": 6, "BackoffRate": 2.0, "JitterStrategy": "FULL",
}
# The step table names a state's NotReady retrier (`waits`); THROTTLED follows it.
RETRIERS = {"THROTTLED": THROTTLED, "AWS_NOT_READY": AWS_NOT_READY,
            "STEPS_IN_FLIGHT": STEPS_IN_FLIGHT, "NOTEBOOK_STARTING": NOTEBOOK_STARTING,
            "SPARE_BEING_MADE": SPARE_BEING_MADE, "MOUNT_TARGETS": MOUNT_TARGETS}


def task(name: str, *, token: bool = False, timeout: int | None = None,
         extra_payload: Mapping[str, Any] | None = None, result_path: str | None = None,
         result_selector: Mapping[str, Any] | None = None, catch: Sequence[State] = (),
         comment: str | None = None) -> tuple[str, State]:
    """The state `name`: the step table's Lambda for it invoked with its action, the
    cluster and the state's name, retried as the table says. `token` makes it a callback
    (.waitForTaskToken, the token in the payload): it ends when someone sends the token
    its result, or after `timeout` s. No Next/End and no machine Catch: the layout below
    adds those."""
    step = BY_STATE[name]
    retry = (RETRIERS[step.waits], THROTTLED) if step.waits else (THROTTLED,)
    payload: State = {"action": step.function, "cluster.$": "$.cluster",
                      "state.$": "$$.State.Name"}
    if token:
        payload["token.$"] = "$$.Task.Token"
    payload.update(extra_payload or {})
    state: State = {"Type": "Task"}
    if comment:
        state["Comment"] = comment
    state["Resource"] = "arn:aws:states:::lambda:invoke" + (".waitForTaskToken" if token else "")
    state["Parameters"] = {"FunctionName": "${" + step.lambda_name + "Arn}",
                           "Payload": payload}
    if result_selector:
        state["ResultSelector"] = dict(result_selector)
    state["ResultPath"] = result_path
    if timeout is not None:
        state["TimeoutSeconds"] = timeout
    state["Retry"] = [dict(r) for r in retry]
    if catch:
        state["Catch"] = [dict(c) for c in catch]
    return name, state


def fail(error: str, cause: str) -> State:
    return {"Type": "Fail", "Error": error, "Cause": cause}


def catch_all(target: str, result_path: str) -> State:
    return {"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": target}


# Every Task of the machines, once, with what the ASL adds to the step table's row.
# Which runs after which is in the layout below.
TASKS: States = dict([
    # The create steps.
    task("GenerateSecurityKey"),
    task("ArrangeNetwork"),
    task("EstablishSharedDrive", result_selector={"file_system.$": "$.Payload.file_system"},
         result_path="$.drive"),
    task("WaitForSharedDrive",
         comment="The mount targets AWS takes a minute and a half to make, waited for "
                 "while the scheduler (which mounts no drive) starts; the file system is "
                 "the one the record holds."),
    task("KeepSpareDrives", catch=[catch_all("SpareDrivesLeftAsTheyWere", "$.spare_error")],
         comment="The stage's spare drives made up again (one may just have been taken), "
                 "off the critical path; a failure here never fails the create."),
    task("SetUpEcsCluster"),
    task("PrepareImages", token=True, timeout=1800, result_path="$.images",
         catch=[{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error",
                 "Next": "ImageBuildTimedOut"}],
         comment="Ends at once when the image tag is in ECR; else when its CodeBuild build "
                 "ends (event callback)."),
    task("RegisterTaskDefinitions", extra_payload={"images.$": "$.foundation[*].images"},
         comment="Gets the image URIs from PrepareImages through the state, not the "
                 "registry. A wildcard, not [2]: it is a one-item list in every JSONPath "
                 "implementation, where an index is not."),
    task("StartScheduler"),
    task("WaitForScheduler", token=True, timeout=600, result_path="$.scheduler",
         comment="Ends when discovery sends this token its success: a callback, not a poll."),
    task("StartWorkers"),
    task("WaitForNotebook",
         comment="READY only once the notebook it promised answers (its health check "
                 "passed); NotebookFailed, with the reason, when its task keeps stopping."),
    task("PublishEndpoints"),
    # The teardown: each step's idempotent delete twin, what is gone is done.
    task("MarkDeleting", extra_payload={"status": "DELETING"},
         comment="Waits (NotReady) while a create step that began before the teardown is "
                 "still running."),
    task("DeleteWorkers"),
    task("DeleteScheduler"),
    task("DeleteTaskDefinitions"),
    task("DeleteEcsCluster"),
    task("DeleteSharedDrive"),
    task("DeleteSecurityKey"),
    task("DeleteNetwork",
         comment="Last: subnets and security groups can go only once no ENI uses them."),
    # Status bookkeeping.
    task("MarkDone", extra_payload={"status.$": "$.final_status"}),
    task("DestroyFailed", extra_payload={"status": "DELETE_FAILED", "error.$": "$.error"}),
    task("RecordFailure", extra_payload={"error.$": "$.error"},
         result_selector={"rollback.$": "$.Payload.rollback"}, result_path="$.rollback",
         comment="Records why the create failed. Answers rollback=true when this execution "
                 "must remove what it made; false when a destroy is already running."),
    task("MarkRolledBack", extra_payload={"status": "FAILED"},
         comment="No error here: RecordFailure recorded the create's reason, which may be "
                 "more than the Catch carries (an image build's)."),
    task("RollbackFailed", extra_payload={"status": "DELETE_FAILED", "error.$": "$.rollback_error"},
         comment="Keeps the create's reason in $.error; records why the rollback failed."),
])
if set(TASKS) != set(BY_STATE):  # a row without its Task, or a Task without its row
    raise ValueError(f"TASKS and the step table differ: {sorted(set(TASKS) ^ set(BY_STATE))}")


def link(state: State, then: str | None, catch: State | None = None) -> State:
    """`state` followed by `then` (None: the end), with `catch` after its own Catch."""
    out = dict(state)
    if catch is not None:
        out["Catch"] = [*out.get("Catch", []), catch]
    if then is None:
        out["End"] = True
    else:
        out["Next"] = then
    return out


def chain(*names: str, then: str | None = None, catch: State | None = None) -> States:
    """TASKS `names`, one after another, then `then`; each caught by `catch`."""
    nexts = [*names[1:], then]
    return {name: link(TASKS[name], nxt, catch) for name, nxt in zip(names, nexts, strict=True)}


def parallel(comment: str, *branches: States, then: str | None, catch: State | None,
             result_selector: Mapping[str, str] | None = None,
             result_path: str | None = None) -> State:
    """Branches run at once, each starting at its first state. Their output (an array,
    one per branch) is dropped unless `result_selector` picks from it for `result_path`."""
    state: State = {"Type": "Parallel", "Comment": comment,
                    "Branches": [{"StartAt": next(iter(b)), "States": b} for b in branches]}
    if result_selector:
        state["ResultSelector"] = dict(result_selector)
    state["ResultPath"] = result_path
    return link(state, then, catch)


def teardown(final: str, *, then: str | None, catch: State) -> States:
    """MarkDeleting -> DeleteResources -> DeleteNetwork -> `final` (the mark saying how it
    ended) -> `then`, every state caught by `catch`. The destroy machine and the create
    machine's rollback both use it, so the two cannot drift apart."""
    return {
        **chain("MarkDeleting", then="DeleteResources", catch=catch),
        "DeleteResources": parallel(
            "Services before the ECS cluster; the drive's mount targets and the key meanwhile.",
            chain("DeleteWorkers", "DeleteScheduler", "DeleteTaskDefinitions",
                  "DeleteEcsCluster"),
            chain("DeleteSharedDrive"),
            chain("DeleteSecurityKey"),
            then="DeleteNetwork", catch=catch),
        **chain("DeleteNetwork", final, then=then, catch=catch),
    }


def machine(comment: str, timeout: int, states: States) -> State:
    return {"Comment": comment, "StartAt": next(iter(states)), "TimeoutSeconds": timeout,
            "States": states}


# The rollback runs in its own machine (rollback_cluster: the teardown states, as the
# destroy machine has them), which the create machine starts as a nested
# `states:startExecution.sync` task and waits for. Local mode's emulator runs that task
# through its seam (daskyard/local/seam.py: moto's interpreter sent the task's parameters
# in the ASL's casing, so it failed every one with States.Runtime).
ROLLBACK_MACHINE = "${RollbackClusterStateMachineArn}"


def roll_back() -> State:
    """The rollback machine, started and waited for; its input is the cluster and the
    create's reason. A rollback that failed has recorded why itself (States.TaskFailed);
    one that could not start is recorded here."""
    return {
        "Type": "Task",
        "Comment": "Removes what the create made: the rollback machine, waited for.",
        "Resource": "arn:aws:states:::states:startExecution.sync",
        "Parameters": {"StateMachineArn": ROLLBACK_MACHINE, "Input": {
            "cluster.$": "$.cluster", "error.$": "$.error",
            "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"}},
        "ResultPath": None,
        "Retry": [dict(EXECUTIONS_AT_QUOTA)],
        "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.rollback_error",
                   "Next": "RollbackEndedFailed"},
                  catch_all("RollbackFailed", "$.rollback_error")],
        "Next": "CreateFailed"}


def rollback_failed_end() -> State:
    return fail(
        "ClusterRollbackFailed", "The create failed and removing what it made failed "
        "too; the cluster record (DELETE_FAILED) holds the rollback's reason. A "
        "destroy finishes the removal: it is idempotent.")


def create_machine() -> State:
    failed = catch_all("RecordFailure", "$.error")
    return machine(
        "Daskyard create: the six setup steps of a Dask cluster on ECS. Any failure records "
        "the reason, then the rollback machine removes what was made and this execution "
        "ends failed; or, when a destroy request stopped it, leaves that to the destroy "
        "machine. An hour for the create and an hour for its rollback.",
        7200,
        {
            "Foundation": parallel(
                "Steps 1, 3+4+2 and 5 do not depend on each other.",
                chain("GenerateSecurityKey"),
                chain("ArrangeNetwork", "EstablishSharedDrive", "SetUpEcsCluster"),
                {**chain("PrepareImages"),
                 "ImageBuildTimedOut": fail(
                     "ImageBuildTimeout", "the images were not built within 30 minutes; see "
                     "the CodeBuild project's logs")},
                then="RegisterTaskDefinitions", catch=failed,
                result_path="$.foundation"),
            **chain("RegisterTaskDefinitions", "StartScheduler",
                    then="AwaitSchedulerStartWorkers", catch=failed),
            "AwaitSchedulerStartWorkers": parallel(
                "The scheduler's task starts (its image pulled) while the drive's mount "
                "targets are made; workers start once they are, and wait for the "
                "scheduler's address in SSM themselves. Meanwhile the stage's spare "
                "drives are made up again.",
                chain("WaitForScheduler"),
                chain("WaitForSharedDrive", "StartWorkers", "WaitForNotebook"),
                {**chain("KeepSpareDrives"),
                 "SpareDrivesLeftAsTheyWere": {
                     "Type": "Pass", "Comment": "The next create tries again.",
                     "End": True}},
                then="PublishEndpoints", catch=failed),
            **chain("PublishEndpoints", catch=failed),
            **chain("RecordFailure", then="RollBackOrStop"),
            "RollBackOrStop": {
                "Type": "Choice",
                "Comment": "A destroy request that stopped the create runs the destroy "
                           "machine itself; two teardowns of one cluster would race.",
                "Choices": [{"Variable": "$.rollback.rollback", "BooleanEquals": True,
                             "Next": "RollBack"}],
                "Default": "CreateStopped"},
            "RollBack": roll_back(),
            "CreateFailed": fail(
                "ClusterCreateFailed", "The create failed; what it made has been removed. "
                "The cluster record holds the reason."),
            "CreateStopped": fail(
                "ClusterCreateStopped", "A destroy request stopped the create; the destroy "
                "machine removes what was made."),
            **chain("RollbackFailed", then="RollbackEndedFailed"),
            "RollbackEndedFailed": rollback_failed_end(),
        })


def rollback_machine() -> State:
    return machine(
        "Daskyard rollback: what a failed create made, removed by the teardown's delete "
        "twins (the destroy machine's), started by the create machine, which waits for it. "
        "Ends by marking the cluster FAILED (the create's reason kept), or DELETE_FAILED "
        "with why the removal failed.",
        3600,
        {
            **teardown("MarkRolledBack", then=None,
                       catch=catch_all("RollbackFailed", "$.rollback_error")),
            **chain("RollbackFailed", then="RollbackEndedFailed"),
            "RollbackEndedFailed": rollback_failed_end(),
        })


def destroy_machine() -> State:
    failed = catch_all("DestroyFailed", "$.error")
    return machine(
        "Daskyard destroy: every delete twin in reverse order. Idempotent: what is gone is "
        "done. Ends by marking the cluster $.final_status.",
        3600,
        {
            **teardown("MarkDone", then=None, catch=failed),
            **chain("DestroyFailed", then="DestroyEndedFailed"),
            "DestroyEndedFailed": fail(
                "ClusterDestroyFailed", "The destroy failed; the cluster record holds the "
                "reason. Run it again: it is idempotent."),
        })


# Inline Map runs at most 40 iterations at once, and an execution's history holds 25,000
# events (about 7 an iteration): the nightly run starts one execution per TEARDOWN_BATCH
# due clusters (chalicelib/teardown.py), each destroying `$.concurrency` at a time.
def teardown_machine() -> State:
    # The teardown group's DestroyDue Lambda, not a step: no step table row, no lease.
    destroy: State = {
        "Type": "Task",
        "Comment": "Starts the destroy machine on one due cluster (the same destroy a "
                   "DELETE starts) and returns: the destroy itself runs in its own execution.",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${DestroyDueArn}", "Payload": {
            "action": "destroy", "cluster.$": "$.cluster", "state.$": "$$.State.Name",
            "why.$": "$.why"}},
        "ResultPath": None, "Retry": [dict(THROTTLED)]}
    return machine(
        "Daskyard teardown: the nightly run's and the expiry's due clusters, each handed to "
        "the destroy machine, $.concurrency at a time; one that cannot be (a destroy began "
        "meanwhile) is recorded in its iteration's output and the others go on.",
        3600,
        {"DestroyEach": {
            "Type": "Map", "Comment": "One iteration per due cluster.",
            "ItemsPath": "$.clusters", "MaxConcurrencyPath": "$.concurrency",
            "ItemSelector": {"cluster.$": "$$.Map.Item.Value.cluster",
                             "why.$": "$$.Map.Item.Value.why"},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "DestroyOne",
                "States": {
                    "DestroyOne": link(destroy, None, catch_all("NotDestroyed", "$.error")),
                    "NotDestroyed": {"Type": "Pass", "Comment": "Its error is in $.error; "
                                     "the nightly summary's next run sees the cluster again.",
                                     "End": True}}},
            "ResultPath": None, "End": True}})


MACHINES = {"create_cluster": create_machine, "rollback_cluster": rollback_machine,
            "destroy_cluster": destroy_machine, "teardown": teardown_machine}


def render() -> dict[str, str]:
    """Each machine's file name (in ASL_DIR) and its text."""
    return {f"{name}.asl.json": json.dumps(build(), indent=2) + "\n"
            for name, build in MACHINES.items()}


def main(argv: Sequence[str]) -> int:
    check = generated.check_flag(argv, "deploy.asl")
    if check is None:
        return generated.USAGE
    return generated.sync({ASL_DIR / name: text for name, text in render().items()},
                          check, "deploy.asl")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
