"""PrepareImages when the image tag is missing: the CodeBuild build is started and the
create waits on it (a task token, no polling) until the build's state change event."""

from __future__ import annotations

from typing import Any

from chalicelib import lifecycle
from chalicelib.core.aws import Clients
from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime
from daskyard.local.deploy import push_images
from daskyard.local.inventory import leftovers
from daskyard.local.stack import LocalMode, wait_execution
from tests.support.callers import ALICE
from tests.support.clusters import exited, open_tasks, spec, wait_status
from tests.support.images import build_event, remove_tag, waiting_on_build
from tests.support.waiting import eventually


def test_missing_tag_starts_the_build_and_its_success_event_continues(
        rt: Runtime, clients: Clients, stack: LocalMode) -> None:
    remove_tag(clients, rt)
    record = lifecycle.create_cluster(rt, spec("built"), caller=ALICE)
    waiting = waiting_on_build(rt, "built")
    project = rt.settings.image_build_project
    builds = clients.codebuild.list_builds_for_project(projectName=project)["ids"]
    assert builds == [waiting.resources.image_build]

    # Nothing moves until the event: once the other branches are done, the one open
    # task is PrepareImages, waiting on its task token (no polling), and nothing later
    # has begun.
    def parked() -> dict[str, str]:
        # The other branches end with these states (the record is written just before
        # a state exits, so the history, not the record, says when they are done).
        done = {"GenerateSecurityKey", "SetUpEcsCluster"} <= exited(clients,
                                                                   record.execution_arn)
        return open_tasks(clients, record.execution_arn) if done else {}

    assert eventually(parked, what="the other branches done") == {
        "PrepareImages": "invoke.waitForTaskToken"}
    assert rt.registry.require("built").status == Status.CREATING
    assert not rt.registry.require("built").resources.task_definitions
    assert "image_token" not in rt.registry.require("built").public()

    # EventBridge delivers to the Lambda within put_events here: no rule of ours
    # matches another project's build, so nothing was delivered and nothing changed.
    build_event(clients, "someone-elses-project", builds[0], "SUCCEEDED")
    assert stack.router.invocations.get("OnImageBuildStateChange", 0) == 0
    assert rt.registry.require("built").tokens.images
    assert open_tasks(clients, record.execution_arn) == {
        "PrepareImages": "invoke.waitForTaskToken"}

    push_images(clients, rt.settings)  # what the build does
    build_event(clients, project, builds[0], "SUCCEEDED")
    out = wait_execution(clients, record.execution_arn)
    assert out["status"] == "SUCCEEDED", out
    assert rt.registry.require("built").status == Status.READY
    assert stack.router.invocations["OnImageBuildStateChange"] == 1
    assert stack.router.invocations["PrepareImages"] == 1  # the build was waited on once


def test_failed_build_fails_the_create_with_the_reason_and_leaves_nothing(
        rt: Runtime, clients: Clients, stack: LocalMode) -> None:
    remove_tag(clients, rt)
    record = lifecycle.create_cluster(rt, spec("unbuilt"), caller=ALICE)
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
