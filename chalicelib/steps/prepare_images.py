"""Seed step 5, first half: the three ECR repositories (shared by all clusters, so the
delete twin keeps them) and a check that the image tag the cluster needs is there."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import naming
from chalicelib.errors import ImageMissing
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
    tag = ctx.settings.image_tag
    images = {}
    for role in naming.ROLES:
        name = naming.repository(ctx.settings.ecr_prefix, role)
        uri = ensure_repository(ctx.clients.ecr, name)
        try:
            ctx.clients.ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])
        except ClientError as exc:
            if error_code(exc) == "ImageNotFoundException":
                raise ImageMissing(f"{name}:{tag} is not in ECR; build images/ and push it") \
                    from exc
            raise
        images[role] = f"{uri}:{tag}"
    ctx.remember("images", images)
    return images


def delete(ctx: StepContext) -> StepResult:
    """The repositories are shared by every cluster: nothing of this cluster's to remove."""
    return {}
