"""The launch types, Fargate, Fargate Spot and EC2, each one class behind one protocol
(as dask-gateway keeps one backend class per platform): what capacity a cluster's ECS
cluster has and makes, where a service's tasks are placed, how they are networked, what
their task definitions are compatible with and fit in, and whether the cluster has a
shell to reach (an SSH key pair, port 22). The steps ask the cluster's launch type
(`launch_type(call.spec)`) and never branch on its name; a new launch type is a class
here and its name in ClusterSpec.launch_type.

Their networking follows ClusterSpec.network_mode: awsvpc on Fargate, each task its own
interface; bridge on EC2, tasks on their instance's (see its docstring for why).

EC2 gets what the seed built by hand: a launch template whose user data joins the
cluster and mounts the shared drive at /efs, an Auto Scaling group, and a capacity
provider with managed scaling, so ECS adds instances as tasks need them. Its tasks run
in bridge mode: they reach SSM, ECR and CloudWatch Logs through their instance, which
gets a public IP where Fargate tasks would (the stage's assign_public_ip; without one,
the subnets need NAT or VPC endpoints, as Fargate's do), and they are reached on the
instance's address. The instance metadata service answers IMDSv2 only, one hop away: the
instance itself (the ECS agent) gets the instance role's credentials, a container behind
the bridge cannot, so tasks have only their task roles. What EC2 makes goes with the
ECS cluster (set_up_ecs_cluster.delete, which needs no launch type: a retried or late
destroy may have no record)."""

from __future__ import annotations

import base64
from typing import Any, ClassVar, Protocol

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.models import ClusterSpec
from chalicelib.core.runtime import Runtime
from chalicelib.core.settings import EC2_SIZES
from chalicelib.steps import StepCall, error_code


class LaunchType(Protocol):
    name: ClassVar[str]  # ClusterSpec.launch_type
    compatibility: ClassVar[str]  # the task definitions' requiresCompatibilities
    ssh: ClassVar[bool]  # an SSH key pair and port 22 from the allowed CIDRs

    def capacity(self, rt: Runtime, call: StepCall) -> list[str]:
        """The ECS cluster's capacity providers, the default first; made here when they
        are the cluster's own."""
        ...

    def placement(self, call: StepCall, role: str) -> dict[str, Any]:
        """CreateService's launch type or capacity provider strategy for `role`."""
        ...

    def networking(self, rt: Runtime, call: StepCall) -> dict[str, Any]:
        """CreateService's network configuration."""
        ...

    def fit(self, spec: ClusterSpec, cpu: int, memory: int) -> tuple[int, int]:
        """A fixed-size task (scheduler, notebook) as this capacity can run it."""
        ...


class Fargate:
    """Every task on on-demand Fargate, each with its own interface (awsvpc)."""

    name: ClassVar[str] = "FARGATE"
    compatibility: ClassVar[str] = "FARGATE"
    ssh: ClassVar[bool] = False  # Fargate tasks take no SSH

    def capacity(self, rt: Runtime, call: StepCall) -> list[str]:
        return ["FARGATE", "FARGATE_SPOT"]

    def placement(self, call: StepCall, role: str) -> dict[str, Any]:
        return {"launchType": "FARGATE"}

    def networking(self, rt: Runtime, call: StepCall) -> dict[str, Any]:
        """Each task's subnets, security group and public IP."""
        network = call.network
        return {"networkConfiguration": {"awsvpcConfiguration": {
            "subnets": network.subnets, "securityGroups": [network.security_group],
            "assignPublicIp": "ENABLED" if rt.settings.assign_public_ip else "DISABLED"}}}

    def fit(self, spec: ClusterSpec, cpu: int, memory: int) -> tuple[int, int]:
        return cpu, memory


class FargateSpot(Fargate):
    """Workers on Fargate Spot. The scheduler (and the notebook) stay on on-demand
    capacity: a Spot interruption of the scheduler would take the whole cluster with it."""

    name: ClassVar[str] = "FARGATE_SPOT"

    def placement(self, call: StepCall, role: str) -> dict[str, Any]:
        if role != "worker":
            return super().placement(call, role)
        return {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}


ECS_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
# The seed's NFS options, as AWS recommends for EFS.
NFS_OPTIONS = "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"


def user_data(cluster_name: str, efs_dns: str) -> str:
    """The seed's multipart user data, fixed: ECS_CLUSTER (not 'ECS CLUSTER'), the
    file system root ':/' (not '://efs'), and _netdev so boot waits for the network.
    No host mount without `efs_dns` (a named drive): its root holds every owner's
    folder, and its policy lets tasks in through their access point only. The container
    metadata file tells a bridge-mode worker its instance's address and host port,
    which it advertises (images/entrypoint.py)."""
    mount = f"""--==BOUNDARY==
Content-Type: text/cloud-boothook; charset="us-ascii"

cloud-init-per once install_nfs_utils yum install -y nfs-utils
cloud-init-per once mkdir_efs mkdir -p /efs
cloud-init-per once fstab_efs sh -c \
  'echo "{efs_dns}:/ /efs nfs4 {NFS_OPTIONS},_netdev 0 0" >> /etc/fstab'
mount -a -t nfs4

""" if efs_dns else ""
    return f"""Content-Type: multipart/mixed; boundary="==BOUNDARY=="
MIME-Version: 1.0

{mount}--==BOUNDARY==
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/bash
echo ECS_CLUSTER={cluster_name} >> /etc/ecs/ecs.config
echo ECS_ENABLE_TASK_IAM_ROLE=true >> /etc/ecs/ecs.config
echo ECS_ENABLE_CONTAINER_METADATA=true >> /etc/ecs/ecs.config
--==BOUNDARY==--
"""


class Ec2:
    """Tasks in bridge mode on the cluster's own instances: its Auto Scaling group
    behind a capacity provider named as the cluster."""

    name: ClassVar[str] = "EC2"
    compatibility: ClassVar[str] = "EC2"
    ssh: ClassVar[bool] = True

    def capacity(self, rt: Runtime, call: StepCall) -> list[str]:
        name = call.names.base()
        spec, tags = call.spec, call.tags()
        ec2, asg = rt.clients.ec2, rt.clients.autoscaling
        image = rt.clients.ssm.get_parameter(Name=ECS_AMI_PARAMETER)["Parameter"]["Value"]
        drive = call.drive
        data = base64.b64encode(
            user_data(name, "" if drive.kept else drive.dns).encode()).decode()
        try:
            ec2.create_launch_template(
                LaunchTemplateName=name,
                LaunchTemplateData={
                    "ImageId": image, "InstanceType": spec.instance_type,
                    "KeyName": name, "UserData": data,
                    "IamInstanceProfile": {"Arn": rt.settings.instance_profile_arn},
                    # The Auto Scaling group picks the subnet; the instance's interface
                    # has the cluster's group and, as Fargate tasks would, a public IP.
                    "NetworkInterfaces": [{
                        "DeviceIndex": 0, "Groups": [call.network.security_group],
                        "AssociatePublicIpAddress": rt.settings.assign_public_ip,
                        "DeleteOnTermination": True}],
                    "MetadataOptions": {"HttpTokens": "required",
                                        "HttpPutResponseHopLimit": 1},
                    # Everything RunInstances makes carries the cluster's tags, so the
                    # steps' policy can require them on each (aws:RequestTag) when the
                    # Auto Scaling group is created and checks RunInstances against this
                    # template.
                    "TagSpecifications": [
                        {"ResourceType": kind, "Tags": naming.kv(tags)}
                        for kind in ("instance", "volume", "network-interface")]},
                TagSpecifications=[{"ResourceType": "launch-template",
                                    "Tags": naming.kv(tags)}])
        except ClientError as exc:
            if error_code(exc) != "InvalidLaunchTemplateName.AlreadyExistsException":
                raise
        call.remember(launch_template=name)
        try:
            asg.create_auto_scaling_group(
                AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": name,
                                                           "Version": "$Latest"},
                MinSize=0, MaxSize=max(spec.workers + 2, 2), DesiredCapacity=0,
                VPCZoneIdentifier=",".join(call.network.subnets),
                Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True}
                      for k, v in {**tags, "AmazonECSManaged": "true"}.items()])
        except ClientError as exc:
            if error_code(exc) != "AlreadyExists":
                raise
        call.remember(auto_scaling_group=name)
        asg_arn = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"][0]["AutoScalingGroupARN"]
        try:
            rt.clients.ecs.create_capacity_provider(
                name=name, tags=naming.ecs_kv(tags),
                autoScalingGroupProvider={
                    "autoScalingGroupArn": asg_arn,
                    "managedTerminationProtection": "DISABLED",
                    "managedScaling": {"status": "ENABLED", "targetCapacity": 100}})
        except ClientError as exc:
            if "already exists" not in str(exc):
                raise
        call.remember(capacity_provider=name)
        return [name]

    def placement(self, call: StepCall, role: str) -> dict[str, Any]:
        return {"capacityProviderStrategy": [
            {"capacityProvider": call.names.base(), "weight": 1}]}

    def networking(self, rt: Runtime, call: StepCall) -> dict[str, Any]:
        return {}  # bridge tasks have no interface of their own: they use the instance's

    def fit(self, spec: ClusterSpec, cpu: int, memory: int) -> tuple[int, int]:
        # A task asking for more than the instance offers never runs.
        return cpu, min(memory, EC2_SIZES[spec.instance_type][1])


LAUNCH_TYPES: dict[str, LaunchType] = {t.name: t for t in (Fargate(), FargateSpot(), Ec2())}


def launch_type(spec: ClusterSpec) -> LaunchType:
    return LAUNCH_TYPES[spec.launch_type]
