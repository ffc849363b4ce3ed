"""Each step's create and delete twin, called directly against the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core.aws import Clients
from chalicelib.core.models import StepEvent
from chalicelib.core.runtime import Runtime
from chalicelib.steps import (
    StepCall,
    arrange_network,
    establish_shared_drive,
    generate_security_key,
)
from tests.support.clusters import spec


def call(rt: Runtime, name: str = "demo") -> StepCall:
    return StepCall(StepEvent(action="create", cluster=name), rt.registry, rt.settings.stage)


@pytest.fixture
def record(rt: Runtime) -> Any:
    return rt.registry.create(spec("demo", allowed_cidrs=["10.1.0.0/16", "192.168.5.0/24"]),
                              "test", [], "")


def tags_of(items: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items}


def test_network_opens_only_the_given_cidrs(rt: Runtime, clients: Clients, record: Any) -> None:
    out = arrange_network.create(rt, call(rt))
    group = clients.ec2.describe_security_groups(GroupIds=[out["security_group"]])[
        "SecurityGroups"][0]
    cidrs = {r["CidrIp"] for p in group["IpPermissions"] for r in p.get("IpRanges", [])}
    assert cidrs == {"10.1.0.0/16", "192.168.5.0/24"}
    ports = {(p["FromPort"], p["ToPort"]) for p in group["IpPermissions"] if p.get("IpRanges")}
    assert ports == {(8888, 8888), (8786, 8789)}  # no SSH on Fargate
    internal = [p for p in group["IpPermissions"] if p.get("UserIdGroupPairs")]
    assert internal[0]["UserIdGroupPairs"][0]["GroupId"] == out["security_group"]
    assert tags_of(group["Tags"]) == {"daskyard:cluster": "demo", "daskyard:managed": "true",
                                      "daskyard:stage": "local"}
    arrange_network.create(rt, call(rt))  # a retried step makes no second group
    assert len(clients.ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": ["daskyard-local-demo"]}])["SecurityGroups"]) == 1


def test_drive_is_encrypted_tagged_and_deleted(rt: Runtime, clients: Clients,
                                               record: Any) -> None:
    step = call(rt)  # what ArrangeNetwork made, as the next step reads it
    arrange_network.create(rt, step)
    out = establish_shared_drive.create(rt, step)
    fs = clients.efs.describe_file_systems(FileSystemId=out["file_system"])["FileSystems"][0]
    assert fs["Encrypted"] is True
    assert tags_of(fs["Tags"])["daskyard:cluster"] == "demo"
    assert tags_of(fs["Tags"])["daskyard:stage"] == "local"
    waiting = StepCall(StepEvent(action="wait", cluster="demo", file_system=out["file_system"]),
                       rt.registry, rt.settings.stage)
    assert establish_shared_drive.wait(rt, waiting) == {"file_system": out["file_system"]}
    establish_shared_drive.delete(rt, call(rt))
    assert clients.efs.describe_file_systems()["FileSystems"] == []
    establish_shared_drive.delete(rt, call(rt))  # already gone is fine


def test_a_named_drive_keeps_its_mount_targets_and_lets_in_each_cluster_while_it_lives(
        rt: Runtime, clients: Clients) -> None:
    made = {}
    for name in ("first", "second"):
        rt.registry.create(spec(name, drive="data"), "test", [], "")
        step = call(rt, name)
        arrange_network.create(rt, step)
        made[name] = (establish_shared_drive.create(rt, step), step.network.security_group)
    (first, first_group), (second, second_group) = made["first"], made["second"]
    assert first["file_system"] == second["file_system"]
    assert first["mount_targets"] and second["mount_targets"] == []  # the first's serve both
    efs, ec2 = clients.efs, clients.ec2
    targets = efs.describe_mount_targets(FileSystemId=first["file_system"])["MountTargets"]
    drive_group = efs.describe_mount_target_security_groups(
        MountTargetId=targets[0]["MountTargetId"])["SecurityGroups"]
    assert len(drive_group) == 1 and drive_group[0] not in (first_group, second_group)

    def admitted() -> set[str]:
        group = ec2.describe_security_groups(GroupIds=drive_group)["SecurityGroups"][0]
        assert {(p["FromPort"], p["ToPort"]) for p in group["IpPermissions"]} == {(2049, 2049)}
        return {pair["GroupId"] for p in group["IpPermissions"]
                for pair in p["UserIdGroupPairs"]}

    assert admitted() == {first_group, second_group}
    establish_shared_drive.delete(rt, call(rt, "first"))
    arrange_network.delete(rt, call(rt, "first"))  # its group is no longer referenced
    assert admitted() == {second_group}
    assert [t["MountTargetId"] for t in efs.describe_mount_targets(
        FileSystemId=first["file_system"])["MountTargets"]] == first["mount_targets"]
    assert tags_of(efs.describe_file_systems(FileSystemId=first["file_system"])[
        "FileSystems"][0]["Tags"]) == {"daskyard:drive": "data", "daskyard:managed": "true",
                                       "daskyard:stage": "local"}


def test_security_key_keeps_secrets_out_of_the_record(rt: Runtime, clients: Clients) -> None:
    rt.registry.create(spec("demo", launch_type="EC2"), "test", [], "")
    step = call(rt)
    generate_security_key.create(rt, step)
    rt.registry.steps.end("demo", "GenerateSecurityKey", step.made)
    stored = rt.registry.require("demo")
    assert stored.resources.key_pair == "daskyard-local-demo"
    assert "BEGIN" not in str(stored.model_dump()) and "KeyMaterial" not in str(stored.resources)
    key = clients.ssm.get_parameter(Name="/daskyard/local/demo/ssh-private-key",
                                    WithDecryption=False)["Parameter"]
    assert key["Type"] == "SecureString"
    generate_security_key.delete(rt, call(rt))
    generate_security_key.delete(rt, call(rt))  # already gone is fine
    assert clients.ec2.describe_key_pairs()["KeyPairs"] == []


def test_fargate_clusters_get_no_key_pair(rt: Runtime, clients: Clients, record: Any) -> None:
    out = generate_security_key.create(rt, call(rt))
    assert out["key_pair"] == "" and out["credentials_secret"]
    assert clients.ec2.describe_key_pairs()["KeyPairs"] == []
