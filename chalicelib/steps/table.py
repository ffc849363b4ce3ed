"""Every Task state of both state machines, once: which Lambda runs it, the step module
and function it calls, whether it holds the cluster's step lease, and which named
retrier (deploy/asl.py) retries its NotReady. deploy/asl.py generates the ASL from this
table, and run_step dispatches on it by the state's name, so the two cannot disagree.

Adding a state: its function in a step module (one named for the state, or the module
of the state it is the delete twin or wait of) and a row here; then `python -m
deploy.asl` to regenerate the ASL, and the layout in deploy/asl.py says where it runs.
A new Lambda (`lambda_name` not used before) also needs its handler in
chalicelib/handlers/steps.py (tests/unit/test_step_table.py checks both agree).

Module and function are names, not imports: a Lambda imports at its cold start the one
module of the state it runs, not every step's."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from chalicelib.core.runtime import Runtime
    from chalicelib.steps import StepCall

    StepFunction = Callable[[Runtime, StepCall], dict[str, Any] | None]

# The named retriers a state's NotReady may be retried by (deploy/asl.RETRIERS); every
# state is also retried on throttling.
Waits = Literal["AWS_NOT_READY", "STEPS_IN_FLIGHT", "NOTEBOOK_STARTING", "MOUNT_TARGETS",
                "SPARE_BEING_MADE"]


@dataclass(frozen=True)
class Step:
    state: str  # the ASL state's name; the Lambda's payload carries it as `state`
    lambda_name: str  # the Lambda (one per group of states), `${<lambda_name>Arn}` in the ASL
    module: str  # in chalicelib.steps
    function: str = "create"  # the payload's `action`
    # Its create makes the cluster's resources: it runs only while the cluster is
    # CREATING and marks itself in flight until it ends (run_step), so a destroy waits.
    leased: bool = False
    waits: Waits | None = None  # how its NotReady is retried; None: it never raises it

    def resolve(self) -> StepFunction:
        """The function this state runs (importing its module)."""
        module = importlib.import_module(f"chalicelib.steps.{self.module}")
        function: StepFunction = getattr(module, self.function)
        return function


STEPS: tuple[Step, ...] = (
    # The create steps, in the order they begin.
    Step("GenerateSecurityKey", "GenerateSecurityKey", "generate_security_key", leased=True),
    Step("ArrangeNetwork", "ArrangeNetwork", "arrange_network", leased=True),
    Step("EstablishSharedDrive", "EstablishSharedDrive", "establish_shared_drive",
         leased=True, waits="AWS_NOT_READY"),
    Step("SetUpEcsCluster", "SetUpEcsCluster", "set_up_ecs_cluster", leased=True),
    Step("PrepareImages", "PrepareImages", "prepare_images"),
    Step("RegisterTaskDefinitions", "RegisterTaskDefinitions", "register_task_definitions",
         leased=True),
    Step("StartScheduler", "StartScheduler", "start_scheduler", leased=True),
    Step("WaitForScheduler", "WaitForScheduler", "wait_for_scheduler"),
    Step("WaitForSharedDrive", "EstablishSharedDrive", "establish_shared_drive", "wait",
         waits="MOUNT_TARGETS"),
    Step("KeepSpareDrives", "EstablishSharedDrive", "keep_spare_drives", "keep",
         waits="SPARE_BEING_MADE"),
    Step("StartWorkers", "StartWorkers", "start_workers", leased=True),
    Step("WaitForNotebook", "StartWorkers", "wait_for_notebook", "wait",
         waits="NOTEBOOK_STARTING"),
    Step("PublishEndpoints", "PublishEndpoints", "publish_endpoints"),
    # The teardown: each create step's idempotent delete twin, in its module.
    Step("MarkDeleting", "RecordStatus", "record_status", "mark", waits="STEPS_IN_FLIGHT"),
    Step("DeleteWorkers", "StartWorkers", "start_workers", "delete"),
    Step("DeleteScheduler", "StartScheduler", "start_scheduler", "delete"),
    Step("DeleteTaskDefinitions", "RegisterTaskDefinitions", "register_task_definitions",
         "delete"),
    Step("DeleteEcsCluster", "SetUpEcsCluster", "set_up_ecs_cluster", "delete",
         waits="AWS_NOT_READY"),
    Step("DeleteSharedDrive", "EstablishSharedDrive", "establish_shared_drive", "delete",
         waits="AWS_NOT_READY"),
    Step("DeleteSecurityKey", "GenerateSecurityKey", "generate_security_key", "delete"),
    Step("DeleteNetwork", "ArrangeNetwork", "arrange_network", "delete", waits="AWS_NOT_READY"),
    # Status bookkeeping.
    Step("MarkDone", "RecordStatus", "record_status", "mark"),
    Step("DestroyFailed", "RecordStatus", "record_status", "mark"),
    Step("RecordFailure", "RecordStatus", "record_status", "rollback"),
    Step("MarkRolledBack", "RecordStatus", "record_status", "mark"),
    Step("RollbackFailed", "RecordStatus", "record_status", "mark"),
)

BY_STATE: dict[str, Step] = {step.state: step for step in STEPS}
# The step Lambdas, in the order of their first state.
LAMBDAS: tuple[str, ...] = tuple(dict.fromkeys(step.lambda_name for step in STEPS))


def step_of(state: str) -> Step:
    try:
        return BY_STATE[state]
    except KeyError:
        raise ValueError(f"no step state named {state!r} (chalicelib/steps/table.py)") \
            from None
