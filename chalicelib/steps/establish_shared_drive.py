"""Seed step 4: an encrypted EFS file system, a mount target per subnet (in the
cluster's security group, so NFS is open only within it) and an access point.

A cluster's own drive goes with it. A named drive (`drive` in the request) is tagged
`daskyard:drive` instead of `daskyard:cluster` and outlives the cluster, with its mount
targets, in a security group of its own (`daskyard-<stage>.drive-<name>`) that lets in
NFS from each cluster naming it while that cluster lives: the cluster's access point
and its way in are removed with it. (Mount targets made in a cluster's group by earlier
versions go with that cluster, as they did.) A cluster without a named drive takes one
of the stage's spare drives when there is one (spare_drives.py): its mount targets are
made already.

A named drive is named only by its owner's clusters and those of whom the owner shares
it with (lifecycle.claim_drive). Each owner's clusters get an access point rooted in a
folder of that owner's own (`/owners/<hash>`), and the drive's file system policy lets
the stage's task role in through an access point only: no task sees another owner's
folder, nor the root above them."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.errors import NotReady
from chalicelib.core.models import Drive, Network
from chalicelib.core.naming import Names
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult, error_code, gone_ok, spare_drives
from chalicelib.steps.arrange_network import find_group

NFS_PORT = 2049


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
    # A retried step keeps to the drive it began with (the record has it).
    began = call.record.resources.drive
    spare = spare_drives.take(rt, call) \
        if not spec.drive and rt.settings.spare_drives and (began is None or began.spare) \
        else None
    if spare is not None:  # its mount targets are made and available
        fs, fresh = spare, False
    else:
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
    call.remember(drive=Drive(file_system=fs_id, kept=bool(spec.drive), spare=bool(spare)))
    if fs["LifeCycleState"] != "available":
        raise NotReady(f"file system {fs_id} is {fs['LifeCycleState']}")
    if spec.drive:  # the same policy each time: no read-modify-write to race
        efs.put_file_system_policy(FileSystemId=fs_id, Policy=drive_policy(
            fs["FileSystemArn"], rt.settings.task_role_arn))

    network = call.network
    # A named drive's mount targets are the drive's, in a group of its own that lets in
    # each cluster naming it: they outlive the clusters, so the next one does not wait
    # the minute and a half AWS takes to make mount targets.
    group = _admit(rt, call, spec.drive, network) if spec.drive else network.security_group
    if fresh:
        existing: set[str] = set()
    elif spare is not None:  # take() found its mount targets serving every subnet
        existing = set(network.subnets)
    else:
        existing = {mt["SubnetId"] for mt in
                    efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]}
    targets = []
    for subnet in network.subnets:
        if subnet not in existing:
            targets.append(efs.create_mount_target(
                FileSystemId=fs_id, SubnetId=subnet, SecurityGroups=[group])["MountTargetId"])

    access_point = efs.create_access_point(
        ClientToken=call.names.base(), FileSystemId=fs_id,
        PosixUser={"Uid": 1000, "Gid": 1000},
        RootDirectory={"Path": call.names.drive_root(call.record.owner) if spec.drive
                       else f"/daskyard/{call.cluster}",
                       "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000,
                                        "Permissions": "0775"}},
        Tags=naming.kv(call.tags()))["AccessPointId"]
    drive = Drive(file_system=fs_id, kept=bool(spec.drive), spare=bool(spare),
                  mount_targets=targets,
                  access_point=access_point, dns=f"{fs_id}.efs.{rt.clients.region}.amazonaws.com")
    call.remember(drive=drive)
    return drive.model_dump()


def drive_policy(file_system_arn: str, task_role: str) -> str:
    """A named drive's file system policy: mounted and written by the stage's task role
    (what every cluster's workers and notebook run as), over TLS, through an access
    point (one owner's root). The denies hold for every principal, the task role too,
    whose own policy allows it the stage's drives: EFS takes the union of identity and
    file system policies, only an explicit deny narrows it. So no client mounts the
    root where every owner's folder is, nor mounts without TLS; anonymous NFS clients
    and other stages' roles are not allowed at all. Any access point of the drive is
    one of its clusters': only the steps make them, after the owner check."""
    access_points = file_system_arn.split(":file-system/", 1)[0] + ":access-point/*"
    client = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    every = [*client, "elasticfilesystem:ClientRootAccess"]
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ItsClustersThroughAccessPoints", "Effect": "Allow",
         "Principal": {"AWS": task_role}, "Action": client, "Resource": file_system_arn,
         "Condition": {
             "Bool": {"aws:SecureTransport": "true",
                      "elasticfilesystem:AccessedViaMountTarget": "true"},
             "StringLike": {"elasticfilesystem:AccessPointArn": access_points}}},
        {"Sid": "NoMountAboveTheOwnersFolders", "Effect": "Deny", "Principal": {"AWS": "*"},
         "Action": every, "Resource": file_system_arn,
         "Condition": {"Null": {"elasticfilesystem:AccessPointArn": "true"}}},
        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": every,
         "Resource": file_system_arn,
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


def _drive_group(rt: Runtime, names: Names, drive: str, vpc: str | None = None) -> str | None:
    """The named drive's security group; made in `vpc` when given and missing."""
    ec2, name = rt.clients.ec2, names.drive(drive)
    found = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [name]},
        {"Name": f"tag:{naming.TAG_STAGE}", "Values": [names.stage]}])["SecurityGroups"]
    if found or vpc is None:
        return str(found[0]["GroupId"]) if found else None
    try:
        return str(ec2.create_security_group(
            GroupName=name, VpcId=vpc, Description=f"Daskyard named drive {drive}",
            TagSpecifications=[{"ResourceType": "security-group", "Tags": naming.kv(
                naming.tags(names.stage, None, **{naming.TAG_DRIVE: drive}))}])["GroupId"])
    except ClientError as exc:
        if error_code(exc) != "InvalidGroup.Duplicate":  # another cluster made it meanwhile
            raise
        return _drive_group(rt, names, drive)


def _nfs_from(cluster_group: str, cluster: str) -> list[dict[str, Any]]:
    return [{"IpProtocol": "tcp", "FromPort": NFS_PORT, "ToPort": NFS_PORT,
             "UserIdGroupPairs": [{"GroupId": cluster_group,
                                   "Description": f"NFS from cluster {cluster}"}]}]


def _admit(rt: Runtime, call: StepCall, drive: str, network: Network) -> str:
    """The drive's group, letting in NFS from this cluster's group."""
    group = _drive_group(rt, call.names, drive, network.vpc)
    assert group is not None
    try:
        rt.clients.ec2.authorize_security_group_ingress(
            GroupId=group, IpPermissions=_nfs_from(network.security_group, call.cluster))
    except ClientError as exc:
        if error_code(exc) != "InvalidPermission.Duplicate":  # a retried step
            raise
    return group


def wait(rt: Runtime, call: StepCall) -> StepResult:
    """Mount targets take a minute or two to become available; NotReady is retried."""
    fs_id = call.event.file_system or call.drive.file_system
    pending = [mt["MountTargetId"] for mt in
               rt.clients.efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
               if mt["LifeCycleState"] != "available"]
    if pending:
        raise NotReady(f"mount targets not yet available: {', '.join(pending)}")
    return {"file_system": fs_id}


def delete(rt: Runtime, call: StepCall) -> StepResult:
    efs = rt.clients.efs
    record = rt.registry.get(call.cluster)
    named = record.spec.drive if record else None
    fs = _find(rt, call, creation_token(call.names, named)) \
        or (None if named else spare_drives.taken_by(rt, call.cluster))
    if fs is None:
        if not named:  # a spare it claimed but did not tag can be taken again
            spare_drives.forget(rt, call.cluster)
        return {}
    fs_id = fs["FileSystemId"]
    for ap in efs.describe_access_points(FileSystemId=fs_id)["AccessPoints"]:
        ap_tags = {t["Key"]: t["Value"] for t in ap.get("Tags", [])}
        if ap_tags.get(naming.TAG_CLUSTER) == call.cluster:
            with gone_ok("AccessPointNotFound"):
                efs.delete_access_point(AccessPointId=ap["AccessPointId"])
    group = find_group(rt, call)
    drive_tag = {t["Key"]: t["Value"] for t in fs.get("Tags", [])}.get(naming.TAG_DRIVE)
    kept = drive_tag is not None
    if drive_tag and group:  # the drive stays; this cluster's way in goes
        drive_group = _drive_group(rt, call.names, drive_tag)
        if drive_group:
            with gone_ok("InvalidPermission.NotFound", "InvalidGroup.NotFound"):
                rt.clients.ec2.revoke_security_group_ingress(
                    GroupId=drive_group, IpPermissions=_nfs_from(group, call.cluster))
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
    if fs["CreationToken"] != creation_token(call.names, None):  # a spare it took
        spare_drives.release(rt, fs_id)
    return {"deleted": fs_id}
