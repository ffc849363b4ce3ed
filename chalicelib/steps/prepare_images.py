"""Seed step 5, first half: the three ECR repositories (shared by all clusters, so the
delete twin keeps them) and the image tag the cluster needs. This state waits on a task
token: with the tag in ECR it ends at once; without it, the CodeBuild build of images/
is started (or joined) and its state change event ends the wait (image_builds.py)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import image_builds, naming
from chalicelib.errors import ImageMissing, InvalidRequest
from chalicelib.steps import StepContext, StepResult, error_code

LIFECYCLE_POLICY = json.dumps({"rules": [
    {"rulePriority": 1, "description": "drop untagged images after 7 days",
     "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                   "countUnit": "days", "countNumber": 7},
     "action": {"type": "expire"}},
    {"rulePriority": 2, "description": "keep the 20 newest images",
     "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 20},
     "action": {"type": "expire"}}]})


def ensure_repository(ecr: Any, name: str) -> str:
    """Make the shared repository if it is missing; returns its URI."""
    try:
        repo = ecr.create_repository(
            repositoryName=name, imageTagMutability="IMMUTABLE",
            imageScanningConfiguration={"scanOnPush": True},
            encryptionConfiguration={"encryptionType": "AES256"},
            tags=naming.kv(naming.tags()))["repository"]
        ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=LIFECYCLE_POLICY)
    except ClientError as exc:
        if error_code(exc) != "RepositoryAlreadyExistsException":
            raise
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    return repo["repositoryUri"]


def create(ctx: StepContext) -> StepResult:
    token = ctx.event.token
    if not token:
        raise InvalidRequest("PrepareImages needs the task token ($$.Task.Token)")
    tag = ctx.settings.image_tag
    images, missing = {}, []
    for role in naming.ROLES:
        name = naming.repository(ctx.settings.ecr_prefix, role)
        uri = ensure_repository(ctx.clients.ecr, name)
        images[role] = f"{uri}:{tag}"
        try:
            ctx.clients.ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])
        except ClientError as exc:
            if error_code(exc) != "ImageNotFoundException":
                raise
            missing.append(f"{name}:{tag}")
    ctx.remember("images", images)
    if not missing:
        ctx.clients.sfn.send_task_success(taskToken=token, output=json.dumps(images))
        return images
    project = ctx.settings.image_build_project
    if not project:
        raise ImageMissing(f"{', '.join(missing)} not in ECR and no image build project "
                           "is configured; build images/ and push them")
    # The token is stored before the build starts, so its end event always finds it.
    ctx.registry.update(ctx.cluster, image_token=token, step="BuildImages")
    build = image_builds.start_or_join(ctx.clients.codebuild, project, tag)
    ctx.remember("image_build", build)
    return {"build": build, "missing": missing}


def delete(ctx: StepContext) -> StepResult:
    """The repositories are shared by every cluster: nothing of this cluster's to remove."""
    return {}
