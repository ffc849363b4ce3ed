"""The launch types, Fargate, Fargate Spot and EC2, each one class behind one protocol
(as dask-gateway keeps one backend class per platform): which worker sizes a request may
ask for and what a worker gets when it names none, which stage limits apply, how many
inbound rules each allowed CIDR takes, the tasks' network mode, what capacity a
cluster's ECS cluster has and makes, where a service's tasks are placed, how they are
networked, what their task definitions are compatible with and fit in, whether the
cluster has a shell to reach (an SSH key pair, port 22), the Fargate vCPUs it holds
against the account's quotas and what it costs an hour. Request validation
(ClusterSpec), the cost estimate (pricing), the quotas (quotas, the doctor) and the
steps ask the cluster's launch type (`launch_type(spec)`) and never branch on its name;
a new launch type is a class here and its name in ClusterSpec.launch_type (the API's
contract: tests/unit/test_launch_types.py checks both agree).

Their networking follows the network mode: awsvpc on Fargate, each task its own
interface; bridge on EC2, tasks on their instance's. On EC2, awsvpc tasks can never have
a public IP, so in subnets without NAT or VPC endpoints they could not reach SSM, ECR or
CloudWatch Logs: bridge tasks reach out through the instance (which has a public IP
where Fargate tasks would) and are reached on its address and their host ports
(chalicelib/discovery.py finds a bridge scheduler that way).

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
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.aws import error_code
from chalicelib.core.settings import EC2_SIZES, FARGATE_SIZES, NOTEBOOK_SIZE, SCHEDULER_SIZE

if TYPE_CHECKING:  # the models validate with the launch types: no import back at run time
    from chalicelib.core.models import ClusterSpec, Drive, Network
    from chalicelib.core.runtime import Runtime
    from chalicelib.core.settings import Prices, Settings

# Service Quotas codes of the vCPUs Fargate tasks hold (the Service Quotas console
# lists them).
FARGATE_ON_DEMAND = ("fargate", "L-3032A538")  # Fargate On-Demand vCPU resource count
FARGATE_SPOT = ("fargate", "L-36FBB829")  # Fargate Spot vCPU resource count
Quota = tuple[str, str]
# What a worker gets when the request names no memory, at most.
DEFAULT_WORKER_MEMORY = 4096


class Cluster(Protocol):
    """What the capacity and service calls read of a step's call (chalicelib.steps
    .StepCall), the record's spec and what earlier steps made."""

    @property
    def names(self) -> naming.Names: ...

    @property
    def spec(self) -> ClusterSpec: ...

    @property
    def network(self) -> Network: ...

    @property
    def drive(self) -> Drive: ...

    def tags(self) -> dict[str, str]: ...

    def remember(self, **made: Any) -> None: ...


def fargate_vcpus(spec: ClusterSpec) -> tuple[float, float]:
    """The vCPUs of the scheduler and the notebook, and of the workers."""
    fixed = (SCHEDULER_SIZE[0] + (NOTEBOOK_SIZE[0] if spec.notebook else 0)) / 1024
    return fixed, spec.workers * spec.worker_cpu / 1024


def sizes(spec: ClusterSpec) -> list[tuple[int, int]]:
    """(CPU units, MiB) of each task a cluster runs, as its task definitions ask."""
    out = [SCHEDULER_SIZE, *[(spec.worker_cpu, spec.worker_memory)] * spec.workers]
    return [*out, NOTEBOOK_SIZE] if spec.notebook else out


class LaunchType(Protocol):
    name: ClassVar[str]  # ClusterSpec.launch_type
    compatibility: ClassVar[str]  # the task definitions' requiresCompatibilities
    network_mode: ClassVar[str]  # the task definitions' networkMode
    ssh: ClassVar[bool]  # an SSH key pair and port 22 from the allowed CIDRs

    def default_worker_memory(self, request: Mapping[str, Any]) -> int:
        """A worker's MiB when the request (not yet validated) names none."""
        ...

    def check_size(self, spec: ClusterSpec) -> None:
        """Raises ValueError when a worker of the spec's size cannot run."""
        ...

    def limits(self, spec: ClusterSpec, settings: Settings) -> list[tuple[str, str]]:
        """The stage's limits of this launch type the spec breaks: (field, reason)."""
        ...

    def vcpus(self, spec: ClusterSpec) -> dict[Quota, float]:
        """The Fargate vCPUs the cluster holds, by Service Quotas code."""
        ...

    def hourly(self, spec: ClusterSpec, prices: Prices, public_ips: bool) -> float:
        """Estimated USD an hour while it runs (`public_ips`: each task has one)."""
        ...

    def capacity(self, rt: Runtime, call: Cluster) -> list[str]:
        """The ECS cluster's capacity providers, the default first; made here when they
        are the cluster's own."""
        ...

    def placement(self, call: Cluster, role: str) -> dict[str, Any]:
        """CreateService's launch type or capacity provider strategy for `role`."""
        ...

    def networking(self, rt: Runtime, call: Cluster) -> dict[str, Any]:
        """CreateService's network configuration."""
        ...

    def fit(self, spec: ClusterSpec, cpu: int, memory: int) -> tuple[int, int]:
        """A fixed-size task (scheduler, notebook) as this capacity can run it."""
        ...


class Fargate:
    """Every task on on-demand Fargate, each with its own interface (awsvpc)."""

    name: ClassVar[str] = "FARGATE"
    compatibility: ClassVar[str] = "FARGATE"
    network_mode: ClassVar[str] = "awsvpc"
    ssh: ClassVar[bool] = False  # Fargate tasks take no SSH

    def default_worker_memory(self, request: Mapping[str, Any]) -> int:
        return DEFAULT_WORKER_MEMORY

    def check_size(self, spec: ClusterSpec) -> None:
        if spec.worker_memory not in FARGATE_SIZES.get(spec.worker_cpu, []):
            raise ValueError(
                f"worker_cpu={spec.worker_cpu} with worker_memory={spec.worker_memory} is "
                f"not a Fargate size; valid CPU values are {sorted(FARGATE_SIZES)}")

    def limits(self, spec: ClusterSpec, settings: Settings) -> list[tuple[str, str]]:
        return []

    def vcpus(self, spec: ClusterSpec) -> dict[Quota, float]:
        """Every task on on-demand capacity."""
        fixed, workers = fargate_vcpus(spec)
        return {FARGATE_ON_DEMAND: fixed + workers}

    def hourly(self, spec: ClusterSpec, prices: Prices, public_ips: bool) -> float:
        tasks = sizes(spec)
        return sum(self._task_hour(cpu, memory, prices) for cpu, memory in tasks) + (
            len(tasks) * prices.public_ipv4_hour if public_ips else 0.0)

    @staticmethod
    def _task_hour(cpu: int, memory: int, prices: Prices) -> float:
        return cpu / 1024 * prices.fargate_vcpu_hour + memory / 1024 * prices.fargate_gb_hour

    def capacity(self, rt: Runtime, call: Cluster) -> list[str]:
        return ["FARGATE", "FARGATE_SPOT"]

    def placement(self, call: Cluster, role: str) -> dict[str, Any]:
        return {"launchType": "FARGATE"}

    def networking(self, rt: Runtime, call: Cluster) -> dict[str, Any]:
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

    def vcpus(self, spec: ClusterSpec) -> dict[Quota, float]:
        fixed, workers = fargate_vcpus(spec)
        return {FARGATE_ON_DEMAND: fixed, FARGATE_SPOT: workers}

    def hourly(self, spec: ClusterSpec, prices: Prices, public_ips: bool) -> float:
        workers = spec.workers * self._task_hour(spec.worker_cpu, spec.worker_memory, prices)
        return super().hourly(spec, prices, public_ips) - \
            workers * prices.fargate_spot_discount

    def placement(self, call: Cluster, role: str) -> dict[str, Any]:
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
    network_mode: ClassVar[str] = "bridge"
    ssh: ClassVar[bool] = True

    def default_worker_memory(self, request: Mapping[str, Any]) -> int:
        """As much as the instance type offers, up to the default (an unknown type is
        refused by check_size)."""
        fits = EC2_SIZES.get(str(request.get("instance_type", "t3.medium")),
                             (0, DEFAULT_WORKER_MEMORY))[1]
        return min(DEFAULT_WORKER_MEMORY, fits)

    def check_size(self, spec: ClusterSpec) -> None:
        if spec.instance_type not in EC2_SIZES:
            raise ValueError(f"instance_type: one of {', '.join(EC2_SIZES)}")
        cpu, memory = EC2_SIZES[spec.instance_type]
        if spec.worker_cpu > cpu or spec.worker_memory > memory:
            raise ValueError(
                f"a worker of worker_cpu={spec.worker_cpu}, worker_memory={spec.worker_memory} "
                f"does not fit a {spec.instance_type} (at most {cpu} CPU units, {memory} MiB)")

    def limits(self, spec: ClusterSpec, settings: Settings) -> list[tuple[str, str]]:
        if spec.instance_type in settings.allowed_instance_types:
            return []
        return [("instance_type",
                 f"allowed instance types: {', '.join(settings.allowed_instance_types)}")]

    def vcpus(self, spec: ClusterSpec) -> dict[Quota, float]:
        return {}  # instances, not Fargate

    def hourly(self, spec: ClusterSpec, prices: Prices, public_ips: bool) -> float:
        """By the instances the tasks fill, by CPU or by memory (the task definitions
        cap a task's memory at the instance's); their public IPs are the instances'."""
        cpu, memory = EC2_SIZES[spec.instance_type]
        tasks = [self.fit(spec, *size) for size in sizes(spec)]
        instances = max(math.ceil(sum(c for c, _ in tasks) / cpu),
                        math.ceil(sum(m for _, m in tasks) / memory))
        return instances * prices.ec2_hour.get(spec.instance_type, 0.0)

    def capacity(self, rt: Runtime, call: Cluster) -> list[str]:
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

    def placement(self, call: Cluster, role: str) -> dict[str, Any]:
        return {"capacityProviderStrategy": [
            {"capacityProvider": call.names.base(), "weight": 1}]}

    def networking(self, rt: Runtime, call: Cluster) -> dict[str, Any]:
        return {}  # bridge tasks have no interface of their own: they use the instance's

    def fit(self, spec: ClusterSpec, cpu: int, memory: int) -> tuple[int, int]:
        # A task asking for more than the instance offers never runs.
        return cpu, min(memory, EC2_SIZES[spec.instance_type][1])


LAUNCH_TYPES: dict[str, LaunchType] = {t.name: t for t in (Fargate(), FargateSpot(), Ec2())}


def launch_type(spec: ClusterSpec) -> LaunchType:
    return LAUNCH_TYPES[spec.launch_type]
