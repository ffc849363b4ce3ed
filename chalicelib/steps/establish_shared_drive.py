"""Seed step 4: an encrypted EFS file system, a mount target per subnet (in the
cluster's security group, so NFS is open only within it) and an access point.

A cluster's own drive goes with it. A named drive (`drive` in the request) is tagged
`daskyard:drive` instead of `daskyard:cluster` and outlives the cluster: only the
cluster's mount targets and access point are removed."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.errors import InvalidRequest, NotReady
from chalicelib.core.models import Drive
from chalicelib.core.naming import Names
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult, error_code, gone_ok
from chalicelib.steps.arrange_network import find_group

LEASED = True  # its create makes the cluster's resources (see run_step)


def creation_token(names: Names, drive: str | None) -> str:
    return names.drive(drive) if drive else names.base()


def _find(rt: Runtime, call: StepCall, token: str) -> dict[str, Any] | None:
    systems = rt.clients.efs.describe_file_systems(CreationToken=token)["FileSystems"]
    return dict(systems[0]) if systems else None


def create(rt: Runtime, call: StepCall) -> StepResult:
    efs, spec = rt.clients.efs, call.spec
    token = creation_token(call.names, spec.drive)
    tags = naming.tags(call.names.stage, None, **{naming.TAG_DRIVE: spec.drive}) \
        if spec.drive else call.tags()
    try:  # the creation token makes this idempotent: a retry or a named drive finds it
        fs = dict(efs.create_file_system(
            CreationToken=token, Encrypted=True, PerformanceMode="generalPurpose",
            ThroughputMode="elastic", Backup=False, Tags=naming.kv(tags)))
        fresh = True
    except ClientError as exc:
        if error_code(exc) != "FileSystemAlreadyExists":
            raise
        found = _find(rt, call, token)
        assert found is not None
        fs, fresh = found, False
    fs_id = fs["FileSystemId"]
    call.remember(drive=Drive(file_system=fs_id, kept=bool(spec.drive)))
    if fs["LifeCycleState"] != "available":
        raise NotReady(f"file system {fs_id} is {fs['LifeCycleState']}")

    network = call.network
    existing = set() if fresh else {
        mt["SubnetId"] for mt in efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]}
    targets = []
    for subnet in network.subnets:
        if subnet not in existing:
            targets.append(efs.create_mount_target(
                FileSystemId=fs_id, SubnetId=subnet,
                SecurityGroups=[network.security_group])["MountTargetId"])

    access_point = efs.create_access_point(
        ClientToken=call.names.base(), FileSystemId=fs_id,
        PosixUser={"Uid": 1000, "Gid": 1000},
        RootDirectory={"Path": f"/daskyard/{call.cluster}" if not spec.drive else "/shared",
                       "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000,
                                        "Permissions": "0775"}},
        Tags=naming.kv(call.tags()))["AccessPointId"]
    drive = Drive(file_system=fs_id, kept=bool(spec.drive), mount_targets=targets,
                  access_point=access_point, dns=f"{fs_id}.efs.{rt.clients.region}.amazonaws.com")
    call.remember(drive=drive)
    return drive.model_dump()


def wait(rt: Runtime, call: StepCall) -> StepResult:
    """Mount targets take a minute or two to become available; NotReady is retried."""
    fs_id = call.event.file_system
    if not fs_id:
        raise InvalidRequest("WaitForSharedDrive needs the file system EstablishSharedDrive made")
    pending = [mt["MountTargetId"] for mt in
               rt.clients.efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
               if mt["LifeCycleState"] != "available"]
    if pending:
        raise NotReady(f"mount targets not yet available: {', '.join(pending)}")
    return {"file_system": fs_id}


def delete(rt: Runtime, call: StepCall) -> StepResult:
    efs = rt.clients.efs
    record = rt.registry.get(call.cluster)
    fs = _find(rt, call, creation_token(call.names, record.spec.drive if record else None))
    if fs is None:
        return {}
    fs_id = fs["FileSystemId"]
    for ap in efs.describe_access_points(FileSystemId=fs_id)["AccessPoints"]:
        ap_tags = {t["Key"]: t["Value"] for t in ap.get("Tags", [])}
        if ap_tags.get(naming.TAG_CLUSTER) == call.cluster:
            with gone_ok("AccessPointNotFound"):
                efs.delete_access_point(AccessPointId=ap["AccessPointId"])
    group = find_group(rt, call)
    kept = naming.TAG_DRIVE in {t["Key"] for t in fs.get("Tags", [])}
    remaining = []
    for mt in efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]:
        mine = group in efs.describe_mount_target_security_groups(
            MountTargetId=mt["MountTargetId"])["SecurityGroups"]
        if mine or not kept:
            if mt["LifeCycleState"] != "deleting":
                with gone_ok("MountTargetNotFound"):
                    efs.delete_mount_target(MountTargetId=mt["MountTargetId"])
            remaining.append(mt["MountTargetId"])
    if kept:
        return {"kept": fs_id}
    if remaining and efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]:
        raise NotReady(f"mount targets of {fs_id} are still being deleted")
    with gone_ok("FileSystemNotFound"):
        efs.delete_file_system(FileSystemId=fs_id)
    return {"deleted": fs_id}
