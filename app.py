"""Daskyard's Chalice app: wiring only. Each handler parses its event and calls one
chalicelib function. Every Lambda loads this file, so modules only some handlers need
(Slack, webhooks, teardown, image builds) are imported in those handlers: the step
Lambdas' cold start does not pay for slack_sdk."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, IAMAuthorizer, Response
from chalice.app import CaseInsensitiveMapping, CloudWatchEvent

from chalicelib import api, discovery
from chalicelib.runtime import run_step, runtime
from chalicelib.settings import settings
from chalicelib.steps import (
    arrange_network,
    establish_shared_drive,
    generate_security_key,
    prepare_images,
    publish_endpoints,
    record_status,
    register_task_definitions,
    set_up_ecs_cluster,
    start_scheduler,
    start_workers,
    wait_for_scheduler,
)

app = Chalice(app_name="daskyard")
iam = IAMAuthorizer()  # deployed stages: callers sign with SigV4

# The pattern the discovery rule matches: our services' task state changes only.
ECS_TASK_EVENTS = {
    "source": ["aws.ecs"],
    "detail-type": ["ECS Task State Change"],
    "detail": {"group": [{"prefix": "service:daskyard-"}]},
}
# The image builds PrepareImages may wait on: our project's finished builds only.
IMAGE_BUILD_EVENTS = {
    "source": ["aws.codebuild"],
    "detail-type": ["CodeBuild Build State Change"],
    "detail": {"project-name": [{"prefix": "daskyard-"}],
               "build-status": ["SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT"]},
}


# --- One Lambda per state machine step (the ASL names them ${<Name>Arn}) -------------

@app.lambda_function(name="GenerateSecurityKey")
def generate_security_key_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(generate_security_key, event)


@app.lambda_function(name="ArrangeNetwork")
def arrange_network_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(arrange_network, event)


@app.lambda_function(name="EstablishSharedDrive")
def establish_shared_drive_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(establish_shared_drive, event)


@app.lambda_function(name="SetUpEcsCluster")
def set_up_ecs_cluster_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(set_up_ecs_cluster, event)


@app.lambda_function(name="PrepareImages")
def prepare_images_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(prepare_images, event)


@app.lambda_function(name="RegisterTaskDefinitions")
def register_task_definitions_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(register_task_definitions, event)


@app.lambda_function(name="StartScheduler")
def start_scheduler_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(start_scheduler, event)


@app.lambda_function(name="WaitForScheduler")
def wait_for_scheduler_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(wait_for_scheduler, event)


@app.lambda_function(name="StartWorkers")
def start_workers_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(start_workers, event)


@app.lambda_function(name="PublishEndpoints")
def publish_endpoints_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(publish_endpoints, event)


@app.lambda_function(name="RecordStatus")
def record_status_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step(record_status, event)


# --- Events -----------------------------------------------------------------------

@app.on_cw_event(ECS_TASK_EVENTS, name="OnEcsTaskStateChange")
def on_ecs_task_state_change(event: CloudWatchEvent) -> str:
    rt = runtime()
    return discovery.handle_task_event(event.detail, rt.clients, rt.registry)


@app.on_cw_event(IMAGE_BUILD_EVENTS, name="OnImageBuildStateChange")
def on_image_build_state_change(event: CloudWatchEvent) -> str:
    from chalicelib import image_builds

    rt = runtime()
    return image_builds.handle_build_event(event.detail, rt.clients, rt.registry)


# --- Schedules --------------------------------------------------------------------

@app.schedule(settings().teardown_schedule, name="NightlyTeardown")
def nightly_teardown(event: Any) -> dict[str, Any]:
    from chalicelib import teardown

    return teardown.nightly(runtime()).model_dump()


@app.schedule(settings().expiry_schedule, name="ExpireClusters")
def expire_clusters(event: Any) -> dict[str, Any]:
    from chalicelib import teardown

    return teardown.expire(runtime()).model_dump()


# --- HTTP API ---------------------------------------------------------------------

def _body() -> bytes | None:
    request = app.current_request
    raw = request.raw_body if request is not None else None
    return raw.encode() if isinstance(raw, str) else raw


def _headers() -> CaseInsensitiveMapping:
    request = app.current_request
    return request.headers if request is not None else CaseInsensitiveMapping({})


@app.route("/clusters", methods=["POST"], authorizer=iam)
def create_cluster() -> Response:
    return api.respond(lambda: api.create(runtime(), _body()), 202)


@app.route("/clusters", methods=["GET"], authorizer=iam)
def list_clusters() -> Response:
    return api.respond(lambda: api.list_all(runtime()))


@app.route("/clusters/{name}", methods=["GET"], authorizer=iam)
def get_cluster(name: str) -> Response:
    return api.respond(lambda: api.get(runtime(), name))


@app.route("/clusters/{name}/workers", methods=["PUT"], authorizer=iam)
def scale_cluster(name: str) -> Response:
    return api.respond(lambda: api.scale(runtime(), name, _body()))


@app.route("/clusters/{name}", methods=["DELETE"], authorizer=iam)
def delete_cluster(name: str) -> Response:
    return api.respond(lambda: api.delete(runtime(), name), 202)


# Slack and webhooks authenticate by signature (checked in chalicelib), not by IAM.
@app.route("/slack/commands", methods=["POST"],
           content_types=["application/x-www-form-urlencoded"])
def slack_command() -> Response:
    from chalicelib import slack

    return api.respond(lambda: slack.handle(runtime(), _body(), _headers(),
                                                  app.lambda_context))


@app.route("/webhooks", methods=["POST"])
def webhook() -> Response:
    from chalicelib import webhooks

    return api.respond(lambda: webhooks.handle(runtime(), _body(), _headers(),
                                                     app.lambda_context))
