"""EventBridge rules: ECS task state changes (parsed once, then each reaction of
chalicelib.reactions: the scheduler's address, the notebook, an idle scheduler's exit,
crashes, the workers that run), CodeBuild build state changes (the end of an image build
PrepareImages waits on) and Parameter Store changes (a scheduler's worker request).

Every Lambda of the app imports app.py, and so this module: each handler imports what
it calls, so that the other Lambdas do not pay for it at their cold start."""

from __future__ import annotations

from chalice import Blueprint
from chalice.app import CloudWatchEvent

from chalicelib import task_events
from chalicelib.core.observability import logger
from chalicelib.core.runtime import runtime
from chalicelib.core.settings import settings

bp = Blueprint(__name__)
# The stage the app is packaged or loaded for (chalice sets the stage's environment
# before it loads the app): its rules match its own services and builds only.
STAGE = settings().stage

# This stage's services' task state changes only.
ECS_TASK_EVENTS = task_events.pattern(STAGE)
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
    """Parsed once, then every reaction of chalicelib.reactions runs on it."""
    from chalicelib import reactions

    rt = runtime()
    try:
        parsed = task_events.parse(event.to_dict(), rt.settings.stage)
    except task_events.NotOurs as exc:  # the rule's prefix is wider than a service's name
        logger.info("not a task event of this stage", group=exc.group)
        return f"ignored: {exc}"
    except task_events.MalformedEvent as exc:  # a retry would be as malformed
        logger.warning("malformed task event", errors=exc.errors)
        return "ignored: malformed"
    return reactions.react(rt, parsed)


@bp.on_cw_event(IMAGE_BUILD_EVENTS, name="OnImageBuildStateChange")
def on_image_build_state_change(event: CloudWatchEvent) -> str:
    from chalicelib import image_builds

    rt = runtime()
    return image_builds.handle_build_event(event.detail, rt.clients, rt.registry)


@bp.on_cw_event(WORKER_REQUESTS, name="OnWorkerRequest")
def on_worker_request(event: CloudWatchEvent) -> str:
    from chalicelib import worker_requests

    return worker_requests.apply(runtime(), str(event.detail.get("name", "")))
