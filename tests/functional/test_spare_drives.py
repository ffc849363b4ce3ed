"""Spare drives: a stage keeps EFS file systems with their mount targets made, and a
cluster without a named drive takes one instead of waiting for mount targets."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.models import Status, StepEvent
from chalicelib.core.runtime import Runtime, runtime
from chalicelib.steps import StepCall, establish_shared_drive, spare_drives
from daskyard.local.stack import LocalMode
from deploy import spares as deploy_spares
from tests.support.clusters import create, destroy, fail_after, wait_status


def tags_of(fs: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in fs.get("Tags", [])}


def spares(clients: Clients, stage: str) -> list[dict[str, Any]]:
    prefix = naming.spare_token_prefix(stage)
    return [fs for fs in clients.efs.describe_file_systems()["FileSystems"]
            if fs["CreationToken"].startswith(prefix)]


def groups_of_targets(clients: Clients, file_system: str) -> set[str]:
    return {group for mt in clients.efs.describe_mount_targets(
        FileSystemId=file_system)["MountTargets"]
        for group in clients.efs.describe_mount_target_security_groups(
            MountTargetId=mt["MountTargetId"])["SecurityGroups"]}


def claim_exists(clients: Clients, stage: str, file_system: str) -> bool:
    name = naming.spare_claim(stage, file_system)
    return bool(clients.ssm.get_parameters(Names=[name])["Parameters"])


def test_a_fresh_cluster_takes_a_ready_spare_and_the_stage_makes_another(
        rt: Runtime, clients: Clients, stack: LocalMode, stage_config: Any) -> None:
    stage_config(spare_drives=1)
    stage = rt.settings.stage
    assert create(rt, stack, "first")["status"] == "SUCCEEDED"
    first = rt.registry.require("first").resources.drive
    assert first is not None and first.spare is False  # none was there
    (spare,) = spares(clients, stage)  # made beside the first cluster's scheduler start
    assert tags_of(spare)[naming.TAG_SPARE] == "ready"
    waiting_group = groups_of_targets(clients, spare["FileSystemId"])
    group = clients.ec2.describe_security_groups(GroupIds=list(waiting_group))[
        "SecurityGroups"][0]
    assert group["GroupName"] == naming.spares_group(stage)
    assert group["IpPermissions"] == []  # nobody can mount a waiting spare

    assert create(rt, stack, "second")["status"] == "SUCCEEDED"
    second = rt.registry.require("second").resources
    drive, network = second.drive, second.network
    assert drive is not None and network is not None
    assert drive.spare is True and drive.file_system == spare["FileSystemId"]
    taken = clients.efs.describe_file_systems(FileSystemId=drive.file_system)["FileSystems"][0]
    assert tags_of(taken)[naming.TAG_CLUSTER] == "second"
    assert naming.TAG_SPARE not in tags_of(taken)
    assert groups_of_targets(clients, drive.file_system) == {network.security_group}
    (made_again,) = [fs for fs in spares(clients, stage)
                     if naming.TAG_CLUSTER not in tags_of(fs)]
    assert made_again["FileSystemId"] != drive.file_system

    assert destroy(rt, stack, "second")["status"] == "SUCCEEDED"
    assert drive.file_system not in {
        fs["FileSystemId"] for fs in clients.efs.describe_file_systems()["FileSystems"]}
    assert not claim_exists(clients, stage, drive.file_system)


def test_a_create_that_fails_after_taking_a_spare_removes_it_as_its_own(
        rt: Runtime, clients: Clients, stack: LocalMode, stage_config: Any) -> None:
    stage_config(spare_drives=1)
    spare_drives.keep(runtime())  # the stage's settings as they are now
    (spare,) = spares(clients, rt.settings.stage)
    stack.router.interceptor = fail_after("StartWorkers")
    try:
        create(rt, stack, "doomed")
    finally:
        stack.router.interceptor = None
    wait_status(rt, "doomed", {Status.FAILED})
    left = {fs["FileSystemId"] for fs in clients.efs.describe_file_systems()["FileSystems"]}
    assert spare["FileSystemId"] not in left
    assert not claim_exists(clients, rt.settings.stage, spare["FileSystemId"])


def test_one_spare_goes_to_one_taker_and_a_retry_of_it_keeps_it(rt: Runtime,
                                                                 clients: Clients) -> None:
    fs = clients.efs.create_file_system(CreationToken="t")["FileSystemId"]
    assert spare_drives._claim(rt, fs, "alpha") is True
    assert spare_drives._claim(rt, fs, "beta") is False
    assert spare_drives._claim(rt, fs, "alpha") is True  # a retried step
    spare_drives.release(rt, fs)
    assert spare_drives._claim(rt, fs, "beta") is True


def test_a_stage_wanting_fewer_spares_removes_the_rest(rt: Runtime, clients: Clients,
                                                        stage_config: Any) -> None:
    stage_config(spare_drives=2)
    assert len(spare_drives.keep(runtime())["spares"]) == 2
    assert len(spares(clients, rt.settings.stage)) == 2
    stage_config(spare_drives=0)
    out = spare_drives.keep(runtime())
    assert len(out["removed"]) == 2
    assert spares(clients, rt.settings.stage) == []
    assert clients.ssm.get_parameters_by_path(
        Path=f"/daskyard/{rt.settings.stage}/_spares", Recursive=True)["Parameters"] == []


def test_a_claim_left_by_a_step_that_died_is_forgotten_by_its_delete(
        rt: Runtime, clients: Clients, stage_config: Any) -> None:
    stage_config(spare_drives=1)
    (spare,) = spare_drives.keep(runtime())["spares"]
    assert spare_drives._claim(rt, spare, "ghost")  # then the step died, untagged
    gone = StepCall(StepEvent(action="delete", cluster="ghost"), rt.registry, rt.settings.stage)
    establish_shared_drive.delete(rt, gone)
    assert not claim_exists(clients, rt.settings.stage, spare)
    assert spare_drives._claim(rt, spare, "next")  # free to take again


def test_destroying_a_stage_first_removes_its_spares_and_their_group(
        rt: Runtime, clients: Clients, stage_config: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    stage_config(spare_drives=2)
    spare_drives.keep(runtime())
    monkeypatch.setenv("AWS_ENDPOINT_URL", str(clients.endpoint_url))  # the deployer's AWS
    assert deploy_spares.remove(rt.settings.stage, patience=30, poll=0.1) == []
    assert spares(clients, rt.settings.stage) == []
    assert clients.ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [naming.spares_group(rt.settings.stage)]}])[
        "SecurityGroups"] == []
    assert deploy_spares.main(["no-such-stage!"]) == 2
