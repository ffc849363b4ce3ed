"""A missing image tag and the CodeBuild build that makes it, as tests drive them."""

from __future__ import annotations

import json

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.models import ClusterRecord
from chalicelib.core.runtime import Runtime
from tests.support.waiting import eventually


def remove_tag(clients: Clients, rt: Runtime) -> None:
    """Delete the worker image's tag, so that a create has to build it."""
    repo = naming.repository(rt.settings.ecr_prefix, "worker")
    clients.ecr.batch_delete_image(repositoryName=repo,
                                   imageIds=[{"imageTag": rt.settings.image_tag}])


def waiting_on_build(rt: Runtime, name: str, timeout: float = 60) -> ClusterRecord:
    """The record once its create waits on an image build (its token and build stored)."""
    def record() -> ClusterRecord | None:
        found = rt.registry.require(name)
        return found if found.tokens.images and found.resources.image_build else None

    return eventually(record, timeout, interval=0.1,
                      what=f"{name} waiting on an image build")


def build_event(clients: Clients, project: str, build: str, status: str) -> None:
    """The 'CodeBuild Build State Change' event CodeBuild sends when a build ends."""
    clients.events.put_events(Entries=[{
        "Source": "aws.codebuild", "DetailType": "CodeBuild Build State Change",
        "Resources": [f"arn:aws:codebuild:us-east-1:123456789012:build/{build}"],
        "Detail": json.dumps({
            "build-status": status, "project-name": project,
            "build-id": f"arn:aws:codebuild:us-east-1:123456789012:build/{build}",
            "additional-information": {"build-complete": True}})}])
