"""Images built in the cloud: when a cluster needs an image tag that is not in ECR,
PrepareImages starts (or joins) the CodeBuild build of `images/` and waits on a task
token; CodeBuild's "Build State Change" event, through this module, ends the wait with
success or with the reason the build failed. No polling; the ASL bounds the wait."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core.aws import Clients
from chalicelib.core.models import ClusterRecord, Status
from chalicelib.core.registry import Query, Registry

DONE_OK = "SUCCEEDED"
DONE_BAD = ("FAILED", "FAULT", "STOPPED", "TIMED_OUT")
GONE_TOKEN = ("TaskDoesNotExist", "InvalidToken", "TaskTimedOut")


def build_id(arn_or_id: str) -> str:
    """'arn:aws:codebuild:...:build/daskyard-dev-images:uuid' -> 'daskyard-dev-images:uuid'"""
    return arn_or_id.split(":build/", 1)[-1]


def start_or_join(codebuild: Any, project: str, tag: str) -> str:
    """A build of `tag` already running serves every cluster that needs it (tags are
    immutable: a second build could not push)."""
    ids = codebuild.list_builds_for_project(projectName=project, sortOrder="DESCENDING")[
        "ids"][:20]
    for build in codebuild.batch_get_builds(ids=ids)["builds"] if ids else []:
        env = {v["name"]: v["value"] for v in build.get("environment", {}).get(
            "environmentVariables", [])}
        if build.get("buildStatus") == "IN_PROGRESS" and env.get("IMAGE_TAG") == tag:
            return str(build["id"])
    return str(codebuild.start_build(projectName=project, environmentVariablesOverride=[
        {"name": "IMAGE_TAG", "value": tag, "type": "PLAINTEXT"}])["build"]["id"])


def finish(clients: Clients, registry: Registry, record: ClusterRecord, status: str,
           build: str) -> bool:
    """End one cluster's wait, once: the token is cleared in a conditional update first,
    so two deliveries of the event cannot both send. A failure's reason is recorded here
    too, as not every Step Functions implementation keeps a task failure's cause."""
    cause = f"image build {build} ended {status}; see its CodeBuild logs"
    error = "" if status == DONE_OK else f"ImageBuildFailed: {cause}"
    token = record.tokens.images
    if not registry.waits.images_built(record.name, token, error):
        return False
    try:
        if status == DONE_OK:
            clients.sfn.send_task_success(taskToken=token,
                                          output=json.dumps(record.resources.images))
        else:
            clients.sfn.send_task_failure(taskToken=token, error="ImageBuildFailed",
                                          cause=cause)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in GONE_TOKEN:
            raise
        return False
    return True


def handle_build_event(detail: dict[str, Any], clients: Clients, registry: Registry) -> str:
    """A CodeBuild Build State Change for our project: end every wait on that build."""
    status = str(detail.get("build-status", ""))
    build = build_id(str(detail.get("build-id", "")))
    if status != DONE_OK and status not in DONE_BAD:
        return f"ignored {status}"
    # Only a CREATING cluster waits on a build.
    ended = [r.name for r in registry.every(Query(statuses=(Status.CREATING,)))
             if r.tokens.images and r.resources.image_build == build
             and finish(clients, registry, r, status, build)]
    return f"{status}: {', '.join(ended) or 'no cluster waiting'}"
