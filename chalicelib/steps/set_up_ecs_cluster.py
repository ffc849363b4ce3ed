"""Seed step 2: the ECS cluster, with the capacity its launch type has: Fargate and
Fargate Spot need only AWS's capacity providers; EC2 makes its own, an Auto Scaling
group of instances behind a capacity provider (launch_types.Ec2). The delete twin
removes the cluster and, whatever the launch type, any EC2 capacity named for it."""

from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.errors import NotReady
from chalicelib.core.launch_types import launch_type
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, StepResult, error_code, gone_ok


def create(rt: Runtime, call: StepCall) -> StepResult:
    name = call.names.base()
    providers = launch_type(call.spec).capacity(rt, call)
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
