"""Seed step 2: the ECS cluster. Fargate and Fargate Spot need only capacity providers.
EC2 gets what the seed built by hand: a launch template whose user data joins the
cluster and mounts the shared drive at /efs, an Auto Scaling group, and a capacity
provider with managed scaling, so ECS adds instances as tasks need them.

EC2 tasks run in bridge mode (ClusterSpec.network_mode): they reach SSM, ECR and
CloudWatch Logs through their instance, which gets a public IP where Fargate tasks would
(the stage's assign_public_ip; without one, the subnets need NAT or VPC endpoints, as
Fargate's do), and they are reached on the instance's address. The instance metadata
service answers IMDSv2 only, one hop away: the instance itself (the ECS agent) gets the
instance role's credentials, a container behind the bridge cannot, so tasks have only
their task roles."""

from __future__ import annotations

import base64

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.errors import NotReady
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult, error_code, gone_ok

LEASED = True  # its create makes the cluster's resources (see run_step)

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


def _ec2_capacity(rt: Runtime, call: StepCall, name: str) -> str:
    spec, tags = call.spec, call.tags()
    ec2, asg = rt.clients.ec2, rt.clients.autoscaling
    image = rt.clients.ssm.get_parameter(Name=ECS_AMI_PARAMETER)["Parameter"]["Value"]
    drive = call.drive
    data = base64.b64encode(user_data(name, "" if drive.kept else drive.dns).encode()).decode()
    try:
        ec2.create_launch_template(
            LaunchTemplateName=name,
            LaunchTemplateData={
                "ImageId": image, "InstanceType": spec.instance_type,
                "KeyName": name, "UserData": data,
                "IamInstanceProfile": {"Arn": rt.settings.instance_profile_arn},
                # The Auto Scaling group picks the subnet; the instance's interface has
                # the cluster's group and, as Fargate tasks would, a public IP.
                "NetworkInterfaces": [{
                    "DeviceIndex": 0, "Groups": [call.network.security_group],
                    "AssociatePublicIpAddress": rt.settings.assign_public_ip,
                    "DeleteOnTermination": True}],
                "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
                # Everything RunInstances makes carries the cluster's tags, so the
                # steps' policy can require them on each (aws:RequestTag) when the Auto
                # Scaling group is created and checks RunInstances against this template.
                "TagSpecifications": [{"ResourceType": kind, "Tags": naming.kv(tags)}
                                      for kind in ("instance", "volume", "network-interface")]},
            TagSpecifications=[{"ResourceType": "launch-template", "Tags": naming.kv(tags)}])
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
                "autoScalingGroupArn": asg_arn, "managedTerminationProtection": "DISABLED",
                "managedScaling": {"status": "ENABLED", "targetCapacity": 100}})
    except ClientError as exc:
        if "already exists" not in str(exc):
            raise
    call.remember(capacity_provider=name)
    return name


def create(rt: Runtime, call: StepCall) -> StepResult:
    name = call.names.base()
    if call.spec.launch_type == "EC2":
        providers = [_ec2_capacity(rt, call, name)]
    else:
        providers = ["FARGATE", "FARGATE_SPOT"]
    arn = rt.clients.ecs.create_cluster(
        clusterName=name, capacityProviders=providers,
        defaultCapacityProviderStrategy=[{"capacityProvider": providers[0], "weight": 1}],
        settings=[{"name": "containerInsights", "value": "disabled"}],
        tags=naming.ecs_kv(call.tags()))["cluster"]["clusterArn"]
    call.remember(ecs_cluster=arn)
    return {"ecs_cluster": arn, "capacity_providers": providers}


def delete(rt: Runtime, call: StepCall) -> StepResult:
    name, ecs = call.names.base(), rt.clients.ecs
    try:
        with gone_ok("ClusterNotFoundException"):
            ecs.delete_cluster(cluster=name)
    except ClientError as exc:
        if error_code(exc) in ("ClusterContainsServicesException",
                               "ClusterContainsTasksException",
                               "ClusterContainsContainerInstancesException"):
            raise NotReady(f"ECS cluster {name} still has {error_code(exc)[16:]}") from exc
        raise
    providers = ecs.describe_capacity_providers(capacityProviders=[name]).get(
        "capacityProviders", [])
    if any(p.get("status") == "ACTIVE" for p in providers):
        with gone_ok("ClientException"):  # ECS answers ClientException when it is gone
            ecs.delete_capacity_provider(capacityProvider=name)
    with gone_ok("ValidationError"):
        rt.clients.autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name,
                                                          ForceDelete=True)
    templates = rt.clients.ec2.describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": [name]}])["LaunchTemplates"]
    for template in templates:
        with gone_ok("InvalidLaunchTemplateName.NotFoundException",
                     "InvalidLaunchTemplateId.NotFound"):
            rt.clients.ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])
    return {}
