"""One Lambda per state machine step; the ASL names each `${<Name>Arn}`.

Every Lambda of the app imports app.py, and so this module: each handler imports its
own step module, so that a Lambda pays at its cold start for its step only."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.runtime import runtime
from chalicelib.steps import StepResult, run_step

bp = Blueprint(__name__)


@bp.lambda_function(name="GenerateSecurityKey")
def generate_security_key_step(event: dict[str, Any], context: Any) -> StepResult:
    from chalicelib.steps import generate_security_key

    return run_step(generate_security_key, runtime(), event)


@bp.lambda_function(name="ArrangeNetwork")
def arrange_network_step(event: dict[str, Any], context: Any) -> StepResult:
    from chalicelib.steps import arrange_network

    return run_step(arrange_network, runtime(), event)


@bp.lambda_function(name="EstablishSharedDrive")
def establish_shared_drive_step(event: dict[str, Any], context: Any) -> StepResult:
    from chalicelib.steps import establish_shared_drive

    return run_step(establish_shared_drive, runtime(), event)


@bp.lambda_function(name="SetUpEcsCluster")
def set_up_ecs_cluster_step(event: dict[str, Any], context: Any) -> StepResult:
    from chalicelib.steps import set_up_ecs_cluster

    return run_step(set_up_ecs_cluster, runtime(), event)


@bp.lambda_function(name="PrepareImages")
def prepare_images_step(event: dict[str, Any], context: Any) -> StepResult:
    from chalicelib.steps import prepare_images

    return run_step(prepare_images, runtime(), event)


@bp.lambda_function(name="RegisterTaskDefinitions")
def register_task_definitions_step(event: dict[str, Any], context: Any) -> StepResult:
    from chalicelib.steps import register_task_definitions

    return run_step(register_task_definitions, runtime(), event)


@bp.lambda_function(name="StartScheduler")
def start_scheduler_step(event: dict[str, Any], context: Any) -> StepResult:
    from chalicelib.steps import start_scheduler

    return run_step(start_scheduler, runtime(), event)


@bp.lambda_function(name="WaitForScheduler")
def wait_for_scheduler_step(event: dict[str, Any], context: Any) -> StepResult:
    from chalicelib.steps import wait_for_scheduler

    return run_step(wait_for_scheduler, runtime(), event)


@bp.lambda_function(name="StartWorkers")
def start_workers_step(event: dict[str, Any], context: Any) -> StepResult:
    from chalicelib.steps import start_workers

    return run_step(start_workers, runtime(), event)


@bp.lambda_function(name="PublishEndpoints")
def publish_endpoints_step(event: dict[str, Any], context: Any) -> StepResult:
    from chalicelib.steps import publish_endpoints

    return run_step(publish_endpoints, runtime(), event)


@bp.lambda_function(name="RecordStatus")
def record_status_step(event: dict[str, Any], context: Any) -> StepResult:
    from chalicelib.steps import record_status

    return run_step(record_status, runtime(), event)
