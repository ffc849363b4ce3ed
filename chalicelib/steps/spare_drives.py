"""Spare drives: EFS file systems the stage keeps with their mount targets made, so a
cluster without a named drive takes one instead of waiting the minute and a half AWS
takes to make mount targets (daskyard/local/latency.py) before its workers can start.

A spare is an encrypted, empty file system (EFS bills stored bytes; mount targets are
free), tagged `daskyard:spare=ready`, its mount targets in the stage's spares group,
which lets nothing in: nobody can mount it while it waits. A create takes one in
EstablishSharedDrive: an SSM parameter made only if absent decides between two creates
(or a removal) wanting the same spare; the winner tags it as the cluster's, moves its
mount targets into the cluster's group, and from then on it is the cluster's own drive
and goes with it. KeepSpareDrives, beside the scheduler's start, makes new spares up
to the stage's `spare_drives` and removes those beyond it."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import naming, quotas
from chalicelib.core.errors import NotReady
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, error_code, gone_ok
from chalicelib.steps.arrange_network import stage_network

READY, REMOVING = "ready", "removing"
REMOVAL = "_removal"  # the claim of a spare being removed: no cluster has this name


def tags_of(fs: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in fs.get("Tags", [])}


def among(stage: str, systems: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stage's spare file systems in an EFS listing, taken ones included, oldest
    first."""
    prefix = naming.spare_token_prefix(stage)
    return sorted((fs for fs in systems if fs["CreationToken"].startswith(prefix)),
                  key=lambda fs: fs["CreationTime"])


def spares(rt: Runtime) -> list[dict[str, Any]]:
    """The stage's spare file systems, taken ones included, oldest first."""
    return among(rt.settings.stage, quotas.file_systems(rt))


def waiting(fs: dict[str, Any]) -> bool:
    """A spare ready to be taken: no cluster's, and not being removed."""
    tags = tags_of(fs)
    return naming.TAG_CLUSTER not in tags and tags.get(naming.TAG_SPARE) == READY


def untaken(rt: Runtime) -> list[dict[str, Any]]:
    """The spares no cluster has taken (being removed included), oldest first."""
    return [fs for fs in spares(rt) if naming.TAG_CLUSTER not in tags_of(fs)]


def _claim(rt: Runtime, file_system: str, by: str) -> bool:
    """True if `by` holds the spare now: it made the claim, or made it before (a retried
    step). The parameter lives as long as the file system."""
    ssm, name = rt.clients.ssm, naming.spare_claim(rt.settings.stage, file_system)
    try:
        ssm.put_parameter(Name=name, Value=by, Type="String", Overwrite=False)
        return True
    except ClientError as exc:
        if error_code(exc) != "ParameterAlreadyExists":
            raise
    return ssm.get_parameter(Name=name)["Parameter"]["Value"] == by


def release(rt: Runtime, file_system: str) -> None:
    """The claim goes with the file system it claimed."""
    with gone_ok("ParameterNotFound"):
        rt.clients.ssm.delete_parameter(Name=naming.spare_claim(rt.settings.stage, file_system))


def forget(rt: Runtime, cluster: str) -> None:
    """Claims `cluster` made on spares it never tagged (its step died in between): the
    spares can be taken again."""
    ssm = rt.clients.ssm
    path = naming.spare_claim(rt.settings.stage, "").rstrip("/")
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path):
        for parameter in page["Parameters"]:
            if parameter["Value"] == cluster:
                with gone_ok("ParameterNotFound"):
                    ssm.delete_parameter(Name=parameter["Name"])


def taken_by(rt: Runtime, cluster: str) -> dict[str, Any] | None:
    """The spare `cluster` took (the delete twin finds it by its tag, not its token)."""
    return next((fs for fs in spares(rt) if tags_of(fs).get(naming.TAG_CLUSTER) == cluster), None)


def take(rt: Runtime, call: StepCall) -> dict[str, Any] | None:
    """A spare whose mount targets serve every subnet of the cluster, made the cluster's
    own drive; None when there is none (the create then makes a drive as before)."""
    efs, network = rt.clients.efs, call.network
    for fs in spares(rt):
        tags = tags_of(fs)
        mine = tags.get(naming.TAG_CLUSTER) == call.cluster  # a retried step took it
        if not mine and not waiting(fs):
            continue
        fs_id = fs["FileSystemId"]
        targets = efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
        served = {mt["SubnetId"] for mt in targets if mt["LifeCycleState"] == "available"}
        if not set(network.subnets) <= served or not _claim(rt, fs_id, call.cluster):
            continue
        # Tagged the cluster's first: from here on its delete twin and the sweep find it.
        efs.tag_resource(ResourceId=fs_id, Tags=naming.kv(call.tags()))
        efs.untag_resource(ResourceId=fs_id, TagKeys=[naming.TAG_SPARE])
        for mt in targets:
            efs.modify_mount_target_security_groups(MountTargetId=mt["MountTargetId"],
                                                    SecurityGroups=[network.security_group])
        return fs
    return None


def _group(rt: Runtime, vpc: str) -> str:
    """The spares' security group, made when missing; it has no inbound rule."""
    ec2, stage = rt.clients.ec2, rt.settings.stage
    name = naming.spares_group(stage)
    found = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc]},
        {"Name": f"tag:{naming.TAG_STAGE}", "Values": [stage]}])["SecurityGroups"]
    if found:
        return str(found[0]["GroupId"])
    try:
        return str(ec2.create_security_group(
            GroupName=name, VpcId=vpc, Description="Daskyard spare drives: nothing may mount",
            TagSpecifications=[{"ResourceType": "security-group", "Tags": naming.kv(
                naming.tags(stage, None, **{naming.TAG_SPARE: READY}))}])["GroupId"])
    except ClientError as exc:
        if error_code(exc) != "InvalidGroup.Duplicate":  # another create's keep made it
            raise
        return _group(rt, vpc)


def _remove(rt: Runtime, fs: dict[str, Any]) -> bool:
    """One step of removing a spare the stage no longer wants; True once it is gone."""
    efs, fs_id = rt.clients.efs, fs["FileSystemId"]
    if tags_of(fs).get(naming.TAG_SPARE) == READY:
        if not _claim(rt, fs_id, REMOVAL):  # a create took it meanwhile
            return False
        efs.tag_resource(ResourceId=fs_id, Tags=[{"Key": naming.TAG_SPARE, "Value": REMOVING}])
    targets = efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
    for mt in targets:
        if mt["LifeCycleState"] != "deleting":
            with gone_ok("MountTargetNotFound"):
                efs.delete_mount_target(MountTargetId=mt["MountTargetId"])
    if targets and efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]:
        return False  # the file system can go once its mount targets have (next time)
    with gone_ok("FileSystemNotFound"):
        efs.delete_file_system(FileSystemId=fs_id)
    release(rt, fs_id)
    return True


def keep(rt: Runtime) -> dict[str, Any]:
    """Make spares up to the stage's number and give each its mount targets (NotReady
    while a new file system is still being made); remove those beyond it."""
    efs, stage, wanted = rt.clients.efs, rt.settings.stage, rt.settings.spare_drives
    found = untaken(rt)
    ready = [fs for fs in found if waiting(fs)]
    removing = [fs for fs in found if fs not in ready[:wanted]]
    removed = [fs["FileSystemId"] for fs in removing if _remove(rt, fs)]
    if not wanted:
        return {"spares": [], "removed": removed}
    kept = ready[:wanted]
    for _ in range(wanted - len(kept)):
        kept.append(dict(efs.create_file_system(
            CreationToken=naming.spare_token_prefix(stage) + secrets.token_hex(6),
            Encrypted=True, PerformanceMode="generalPurpose", ThroughputMode="elastic",
            Backup=False, Tags=naming.kv(naming.tags(stage, None,
                                                     **{naming.TAG_SPARE: READY})))))
    vpc, subnets = stage_network(rt)
    group = _group(rt, vpc)
    making = []
    for fs in kept:
        fs_id = fs["FileSystemId"]
        if fs["LifeCycleState"] != "available":
            making.append(fs_id)
            continue
        served = {mt["SubnetId"] for mt in
                  efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]}
        for subnet in subnets:
            if subnet not in served:
                efs.create_mount_target(FileSystemId=fs_id, SubnetId=subnet,
                                        SecurityGroups=[group])
    if making:
        raise NotReady(f"spare file systems still being made: {', '.join(making)}")
    return {"spares": [fs["FileSystemId"] for fs in kept], "removed": removed}
