"""Seed step 5, first half: the three ECR repositories (shared by all clusters, so the
delete twin keeps them) and the image tag the cluster needs. This state waits on a task
token: with the tag in ECR it ends at once; without it, the CodeBuild build of images/
is started (or joined) and its state change event ends the wait (image_builds.py)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import image_builds
from chalicelib.core import naming
from chalicelib.core.errors import ImageMissing, InvalidRequest
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult, error_code

LIFECYCLE_POLICY = json.dumps({"rules": [
    {"rulePriority": 1, "description": "drop untagged images after 7 days",
     "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                   "countUnit": "days", "countNumber": 7},
     "action": {"type": "expire"}},
    {"rulePriority": 2, "description": "keep the 20 newest images",
     "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 20},
     "action": {"type": "expire"}}]})


def ensure_repositories(ecr: Any, names: list[str]) -> dict[str, str]:
    """The shared repositories' URIs by name, making any that are missing: one call
    when all exist; else each is created, and one that exists already is described."""
    try:
        found = ecr.describe_repositories(repositoryNames=names)["repositories"]
        return {r["repositoryName"]: r["repositoryUri"] for r in found}
    except ClientError as exc:  # at least one is missing
        if error_code(exc) != "RepositoryNotFoundException":
            raise
    uris = {}
    for name in names:
        try:
            repo = ecr.create_repository(
                repositoryName=name, imageTagMutability="IMMUTABLE",
                imageScanningConfiguration={"scanOnPush": True},
                encryptionConfiguration={"encryptionType": "AES256"},
                # Shared by every stage (images do not differ by stage): no stage tag,
                # and no cluster tag, so no stage's sweep ever takes them.
                tags=naming.kv({naming.TAG_MANAGED: "true"}))["repository"]
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=LIFECYCLE_POLICY)
        except ClientError as exc:
            if error_code(exc) != "RepositoryAlreadyExistsException":
                raise
            repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        uris[name] = repo["repositoryUri"]
    return uris


def create(rt: Runtime, call: StepCall) -> StepResult:
    token = call.event.token
    if not token:
        raise InvalidRequest("PrepareImages needs the task token ($$.Task.Token)")
    if call.spec.image:  # the owner's choice, from the stage's allowed list: no build
        images = dict.fromkeys(naming.ROLES, call.spec.image)
        rt.clients.sfn.send_task_success(taskToken=token, output=json.dumps(images))
        return images
    tag, ecr = rt.settings.image_tag, rt.clients.ecr
    names = {role: naming.repository(rt.settings.ecr_prefix, role) for role in naming.ROLES}
    images, absent = {}, []
    for role, name in names.items():
        try:
            found = ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])
        except ClientError as exc:
            if error_code(exc) not in ("ImageNotFoundException", "RepositoryNotFoundException"):
                raise
            absent.append(role)
            continue
        registry = found["imageDetails"][0]["registryId"]
        images[role] = f"{registry}.dkr.ecr.{rt.clients.region}.amazonaws.com/{name}:{tag}"
    missing = [f"{names[role]}:{tag}" for role in absent]
    if absent:  # a new account or region: the build pushes into these
        uris = ensure_repositories(ecr, [names[role] for role in absent])
        images.update({role: f"{uris[names[role]]}:{tag}" for role in absent})
    if not missing:  # the images go on in the machine's state (RegisterTaskDefinitions)
        rt.clients.sfn.send_task_success(taskToken=token, output=json.dumps(images))
        return images
    call.remember(images=images)  # the build's end event sends them on
    project = rt.settings.image_build_project
    if not project:
        raise ImageMissing(f"{', '.join(missing)} not in ECR and no image build project "
                           "is configured; build images/ and push them")
    # The token is stored before the build starts, so its end event always finds it.
    rt.registry.waits.await_images(call.cluster, token)
    build = image_builds.start_or_join(rt.clients.codebuild, project, tag)
    call.remember(image_build=build)
    rt.registry.steps.record_resources(call.cluster, call.made)
    return {"build": build, "missing": missing}
