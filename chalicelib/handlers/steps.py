"""The step Lambdas; the ASL names each `${<Name>Arn}`. Which states each runs, and
with what, is the step table's (chalicelib/steps/table.py): run_step dispatches on the
state's name, so a handler is the same line for every Lambda (each its own function:
Chalice deploys a Lambda by its handler's name).

Every Lambda of the app imports app.py, and so this module: run_step imports the one
step module of the state it runs, so that a Lambda pays at its cold start for its step
only."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.runtime import runtime
from chalicelib.steps import StepResult, run_step

bp = Blueprint(__name__)


@bp.lambda_function(name="GenerateSecurityKey")
def generate_security_key_step(event: dict[str, Any], context: Any) -> StepResult:
    return run_step(runtime(), event)


@bp.lambda_function(name="ArrangeNetwork")
def arrange_network_step(event: dict[str, Any], context: Any) -> StepResult:
    return run_step(runtime(), event)


@bp.lambda_function(name="EstablishSharedDrive")
def establish_shared_drive_step(event: dict[str, Any], context: Any) -> StepResult:
    return run_step(runtime(), event)


@bp.lambda_function(name="SetUpEcsCluster")
def set_up_ecs_cluster_step(event: dict[str, Any], context: Any) -> StepResult:
    return run_step(runtime(), event)


@bp.lambda_function(name="PrepareImages")
def prepare_images_step(event: dict[str, Any], context: Any) -> StepResult:
    return run_step(runtime(), event)


@bp.lambda_function(name="RegisterTaskDefinitions")
def register_task_definitions_step(event: dict[str, Any], context: Any) -> StepResult:
    return run_step(runtime(), event)


@bp.lambda_function(name="StartScheduler")
def start_scheduler_step(event: dict[str, Any], context: Any) -> StepResult:
    return run_step(runtime(), event)


@bp.lambda_function(name="WaitForScheduler")
def wait_for_scheduler_step(event: dict[str, Any], context: Any) -> StepResult:
    return run_step(runtime(), event)


@bp.lambda_function(name="StartWorkers")
def start_workers_step(event: dict[str, Any], context: Any) -> StepResult:
    return run_step(runtime(), event)


@bp.lambda_function(name="PublishEndpoints")
def publish_endpoints_step(event: dict[str, Any], context: Any) -> StepResult:
    return run_step(runtime(), event)


@bp.lambda_function(name="RecordStatus")
def record_status_step(event: dict[str, Any], context: Any) -> StepResult:
    return run_step(runtime(), event)
