"""EventBridge rules: ECS task state changes (the scheduler's address, an idle
scheduler's exit, crashes, the workers that run), CodeBuild build state changes (the end
of an image build PrepareImages waits on) and Parameter Store changes (a scheduler's
worker request).

Every Lambda of the app imports app.py, and so this module: each handler imports what
it calls, so that the other Lambdas do not pay for it at their cold start."""

from __future__ import annotations

from chalice import Blueprint
from chalice.app import CloudWatchEvent

from chalicelib.core.runtime import runtime
from chalicelib.core.settings import settings

bp = Blueprint(__name__)
# The stage the app is packaged or loaded for (chalice sets the stage's environment
# before it loads the app): its rules match its own services and builds only.
STAGE = settings().stage

# The pattern the discovery rule matches: this stage's services' task state changes only.
ECS_TASK_EVENTS = {
    "source": ["aws.ecs"],
    "detail-type": ["ECS Task State Change"],
    "detail": {"group": [{"prefix": f"service:daskyard-{STAGE}-"}]},
}
# The image builds PrepareImages may wait on: this stage's project's finished builds only.
IMAGE_BUILD_EVENTS = {
    "source": ["aws.codebuild"],
    "detail-type": ["CodeBuild Build State Change"],
    "detail": {"project-name": [{"prefix": f"daskyard-{STAGE}-"}],
               "build-status": ["SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT"]},
}
# A scheduler asking for a worker count (its only write): this stage's parameters only.
WORKER_REQUESTS = {
    "source": ["aws.ssm"],
    "detail-type": ["Parameter Store Change"],
    "detail": {"name": [{"wildcard": f"/daskyard/{STAGE}/*/desired-workers"}],
               "operation": ["Create", "Update"]},
}


@bp.on_cw_event(ECS_TASK_EVENTS, name="OnEcsTaskStateChange")
def on_ecs_task_state_change(event: CloudWatchEvent) -> str:
    from chalicelib import crashes, idle, workers

    rt = runtime()
    outcome = idle.handle_task_event(rt, event.detail)  # discovery, then an idle exit
    # After an idle exit's destroy has begun, the exit is no crash: none is recorded.
    crash = crashes.record(event.detail, rt.clients, rt.registry, rt.settings.stage)
    counted = workers.follow(rt, event.detail)  # the record's workers and cost
    return "; ".join(part for part in (outcome, crash, counted) if part)


@bp.on_cw_event(IMAGE_BUILD_EVENTS, name="OnImageBuildStateChange")
def on_image_build_state_change(event: CloudWatchEvent) -> str:
    from chalicelib import image_builds

    rt = runtime()
    return image_builds.handle_build_event(event.detail, rt.clients, rt.registry)


@bp.on_cw_event(WORKER_REQUESTS, name="OnWorkerRequest")
def on_worker_request(event: CloudWatchEvent) -> str:
    from chalicelib import worker_requests

    return worker_requests.apply(runtime(), str(event.detail.get("name", "")))
