"""Seed step 3: the VPC and subnets, and one security group per cluster.

Ingress from outside is only from the request's CIDRs (never 0.0.0.0/0 unless the stage
allows it): Jupyter 8888, scheduler and dashboard 8786-8789, SSH 22 on EC2. Inside the
group all TCP is open, which the scheduler, workers and NFS (2049) need."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib import naming
from chalicelib.errors import InvalidRequest, NotReady
from chalicelib.steps import StepContext, StepResult, error_code, gone_ok


def _vpc_and_subnets(ctx: StepContext) -> tuple[str, list[str]]:
    ec2, s = ctx.clients.ec2, ctx.settings
    if s.vpc_id:
        vpc = s.vpc_id
    else:
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise InvalidRequest("no default VPC: set DASKYARD_VPC_ID and DASKYARD_SUBNET_IDS")
        vpc = vpcs[0]["VpcId"]
    if s.subnet_ids:
        return vpc, s.subnet_ids
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    # One subnet per availability zone: EFS allows one mount target per zone.
    by_zone: dict[str, str] = {}
    for sn in sorted(subnets, key=lambda x: x["SubnetId"]):
        by_zone.setdefault(sn["AvailabilityZone"], sn["SubnetId"])
    return vpc, sorted(by_zone.values())[:3]


def find_group(ctx: StepContext) -> str | None:
    groups = ctx.clients.ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [naming.base(ctx.cluster)]},
        {"Name": f"tag:{naming.TAG_CLUSTER}", "Values": [ctx.cluster]}])["SecurityGroups"]
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


def create(ctx: StepContext) -> StepResult:
    ec2, spec = ctx.clients.ec2, ctx.spec
    vpc, subnets = _vpc_and_subnets(ctx)
    group_id = find_group(ctx)
    if group_id is None:
        group_id = ec2.create_security_group(
            GroupName=naming.base(ctx.cluster), VpcId=vpc,
            Description=f"Daskyard cluster {ctx.cluster}",
            TagSpecifications=[{"ResourceType": "security-group",
                                "Tags": naming.kv(naming.tags(ctx.cluster))}])["GroupId"]
    ctx.remember("network", {"vpc": vpc, "subnets": subnets, "security_group": group_id})
    try:
        ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=ingress_rules(group_id, spec.allowed_cidrs,
                                        ssh=spec.launch_type == "EC2"))
    except ClientError as exc:
        if error_code(exc) != "InvalidPermission.Duplicate":  # a retried step
            raise
    return {"vpc": vpc, "subnets": subnets, "security_group": group_id}


def delete(ctx: StepContext) -> StepResult:
    group_id = find_group(ctx)
    if group_id is None:
        return {}
    try:
        with gone_ok("InvalidGroup.NotFound"):
            ctx.clients.ec2.delete_security_group(GroupId=group_id)
    except ClientError as exc:
        if error_code(exc) == "DependencyViolation":  # ENIs of stopping tasks still hold it
            raise NotReady(f"security group {group_id} is still in use") from exc
        raise
    return {}
