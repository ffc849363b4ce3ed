"""PrepareImages when the image tag is missing: the CodeBuild build is started and the
create waits on it (a task token, no polling) until the build's state change event."""

from __future__ import annotations

import json
import time
from typing import Any

from chalicelib import lifecycle
from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.models import ClusterRecord, Status
from chalicelib.core.runtime import Runtime
from daskyard.local.deploy import push_images
from daskyard.local.inventory import leftovers
from daskyard.local.stack import LocalMode, wait_execution
from tests.conftest import spec, wait_status


def remove_tag(clients: Clients, rt: Runtime) -> None:
    repo = naming.repository(rt.settings.ecr_prefix, "worker")
    clients.ecr.batch_delete_image(repositoryName=repo,
                                   imageIds=[{"imageTag": rt.settings.image_tag}])


def waiting_on_build(rt: Runtime, name: str, timeout: float = 60) -> ClusterRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = rt.registry.require(name)
        if record.image_token and record.resources.image_build:
            return record
        time.sleep(0.1)
    raise AssertionError(f"{name} never waited on an image build: {rt.registry.get(name)}")


def build_event(clients: Clients, project: str, build: str, status: str) -> None:
    clients.events.put_events(Entries=[{
        "Source": "aws.codebuild", "DetailType": "CodeBuild Build State Change",
        "Resources": [f"arn:aws:codebuild:us-east-1:123456789012:build/{build}"],
        "Detail": json.dumps({
            "build-status": status, "project-name": project,
            "build-id": f"arn:aws:codebuild:us-east-1:123456789012:build/{build}",
            "additional-information": {"build-complete": True}})}])


def test_missing_tag_starts_the_build_and_its_success_event_continues(
        rt: Runtime, clients: Clients, stack: LocalMode) -> None:
    remove_tag(clients, rt)
    record = lifecycle.create_cluster(rt, spec("built"))
    waiting = waiting_on_build(rt, "built")
    project = rt.settings.image_build_project
    builds = clients.codebuild.list_builds_for_project(projectName=project)["ids"]
    assert builds == [waiting.resources.image_build]
    # Other clusters' progress never depends on polling: nothing moves until the event.
    time.sleep(1)
    assert rt.registry.require("built").status == Status.CREATING
    assert "image_token" not in rt.registry.require("built").public()

    build_event(clients, "someone-elses-project", builds[0], "SUCCEEDED")  # not our rule
    time.sleep(0.5)
    assert rt.registry.require("built").image_token

    push_images(clients, rt.settings)  # what the build does
    build_event(clients, project, builds[0], "SUCCEEDED")
    out = wait_execution(clients, record.execution_arn)
    assert out["status"] == "SUCCEEDED", out
    assert rt.registry.require("built").status == Status.READY


def test_failed_build_fails_the_create_with_the_reason_and_leaves_nothing(
        rt: Runtime, clients: Clients, stack: LocalMode) -> None:
    remove_tag(clients, rt)
    record = lifecycle.create_cluster(rt, spec("unbuilt"))
    build = waiting_on_build(rt, "unbuilt").resources.image_build
    build_event(clients, rt.settings.image_build_project, build, "FAILED")
    out = wait_execution(clients, record.execution_arn)
    assert out["status"] == "FAILED"
    failed = wait_status(rt, "unbuilt", {Status.FAILED})
    assert failed.error.startswith("ImageBuildFailed: image build")
    assert "ended FAILED; see its CodeBuild logs" in failed.error
    assert leftovers(clients, "unbuilt") == []


def test_two_clusters_needing_the_same_tag_share_one_build(
        rt: Runtime, clients: Clients, stack: LocalMode, monkeypatch: Any) -> None:
    remove_tag(clients, rt)
    started: list[str] = []
    real_start = clients.codebuild.start_build

    def start_build(**kw: Any) -> Any:  # the emulator reports builds done at once; keep
        out = real_start(**kw)           # this one IN_PROGRESS, as CodeBuild would
        started.append(out["build"]["id"])
        return out

    from chalicelib import image_builds
    monkeypatch.setattr(clients.codebuild, "start_build", start_build)
    real_batch = clients.codebuild.batch_get_builds
    monkeypatch.setattr(clients.codebuild, "batch_get_builds", lambda ids: {"builds": [
        {**b, "buildStatus": "IN_PROGRESS", "environment": {"environmentVariables": [
            {"name": "IMAGE_TAG", "value": rt.settings.image_tag}]}}
        for b in real_batch(ids=ids)["builds"]]})
    first = image_builds.start_or_join(clients.codebuild, rt.settings.image_build_project,
                                       rt.settings.image_tag)
    second = image_builds.start_or_join(clients.codebuild, rt.settings.image_build_project,
                                        rt.settings.image_tag)
    assert first == second and started == [first]
