"""Seed step 3: the VPC and subnets, and one security group per cluster.

Ingress from outside is only from the request's CIDRs (never 0.0.0.0/0 unless the stage
allows it): Jupyter 8888, scheduler and dashboard 8786-8789, SSH 22 on EC2. Inside the
group all TCP is open, which the scheduler, workers and NFS (2049) need.

On Fargate the group is each task's (awsvpc); on EC2 it is the instances' (the launch
template's), whose bridge-mode tasks publish the scheduler's and notebook's ports as they
are and the workers' on ports ECS picks, which only the group's own members reach."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.errors import InvalidRequest, NotReady
from chalicelib.core.launch_types import launch_type
from chalicelib.core.models import Network
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult, error_code, gone_ok


def stage_network(rt: Runtime) -> tuple[str, list[str]]:
    """The stage's VPC and subnets, or else the default VPC's default subnets (AWS makes
    one per availability zone there), found in one call."""
    ec2, settings = rt.clients.ec2, rt.settings
    if settings.vpc_id and settings.subnet_ids:
        return settings.vpc_id, settings.subnet_ids
    if settings.subnet_ids:  # their VPC is theirs
        found = ec2.describe_subnets(SubnetIds=settings.subnet_ids)["Subnets"]
        return str(found[0]["VpcId"]), settings.subnet_ids
    where = ({"Name": "vpc-id", "Values": [settings.vpc_id]} if settings.vpc_id
             else {"Name": "default-for-az", "Values": ["true"]})
    subnets = ec2.describe_subnets(Filters=[where])["Subnets"]
    if not subnets:
        raise InvalidRequest("no default VPC subnets: set DASKYARD_VPC_ID and DASKYARD_SUBNET_IDS")
    # One subnet per availability zone: EFS allows one mount target per zone.
    by_zone: dict[str, str] = {}
    for subnet in sorted(subnets, key=lambda x: x["SubnetId"]):
        by_zone.setdefault(subnet["AvailabilityZone"], subnet["SubnetId"])
    return str(subnets[0]["VpcId"]), sorted(by_zone.values())[:3]


def find_group(rt: Runtime, call: StepCall) -> str | None:
    groups = rt.clients.ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [call.names.base()]},
        {"Name": f"tag:{naming.TAG_CLUSTER}", "Values": [call.cluster]},
        {"Name": f"tag:{naming.TAG_STAGE}", "Values": [call.names.stage]}])["SecurityGroups"]
    return groups[0]["GroupId"] if groups else None


def ingress_rules(group_id: str, cidrs: list[str], ssh: bool) -> list[dict[str, Any]]:
    ranges = [{"CidrIp": c} for c in cidrs if ":" not in c]
    ranges6 = [{"CidrIpv6": c} for c in cidrs if ":" in c]
    ports = [(8888, 8888, "Jupyter"), (8786, 8789, "Dask scheduler and dashboard")]
    if ssh:
        ports.append((22, 22, "SSH"))
    rules: list[dict[str, Any]] = [{
        "IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535,
        "UserIdGroupPairs": [{"GroupId": group_id, "Description": "within the cluster"}]}]
    if ranges or ranges6:
        for low, high, what in ports:
            rules.append({"IpProtocol": "tcp", "FromPort": low, "ToPort": high,
                          "IpRanges": [{**r, "Description": what} for r in ranges],
                          "Ipv6Ranges": [{**r, "Description": what} for r in ranges6]})
    return rules


def create(rt: Runtime, call: StepCall) -> StepResult:
    ec2, spec = rt.clients.ec2, call.spec
    vpc, subnets = stage_network(rt)
    try:
        group_id = ec2.create_security_group(
            GroupName=call.names.base(), VpcId=vpc,
            Description=f"Daskyard cluster {call.cluster}",
            TagSpecifications=[{"ResourceType": "security-group",
                                "Tags": naming.kv(call.tags())}])["GroupId"]
    except ClientError as exc:
        found = find_group(rt, call) if error_code(exc) == "InvalidGroup.Duplicate" else None
        if found is None:  # a retried step finds its group; anything else is an error
            raise
        group_id = found
    call.remember(network=Network(vpc=vpc, subnets=subnets, security_group=group_id))
    try:
        ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=ingress_rules(group_id, spec.allowed_cidrs,
                                        ssh=launch_type(spec).ssh))
    except ClientError as exc:
        if error_code(exc) != "InvalidPermission.Duplicate":  # a retried step
            raise
    return {"vpc": vpc, "subnets": subnets, "security_group": group_id}


def delete(rt: Runtime, call: StepCall) -> StepResult:
    group_id = find_group(rt, call)
    if group_id is None:
        return {}
    try:
        with gone_ok("InvalidGroup.NotFound"):
            rt.clients.ec2.delete_security_group(GroupId=group_id)
    except ClientError as exc:
        if error_code(exc) == "DependencyViolation":  # ENIs of stopping tasks still hold it
            raise NotReady(f"security group {group_id} is still in use") from exc
        raise
    return {}
