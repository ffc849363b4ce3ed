"""ECS services of a cluster: made by StartScheduler and StartWorkers, scaled by the API."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib import naming
from chalicelib.steps import StepContext, error_code, gone_ok


def _placement(ctx: StepContext, role: str) -> dict[str, Any]:
    """The scheduler always runs on on-demand capacity: a Spot interruption of the
    scheduler would take the whole cluster with it. Workers may use Fargate Spot."""
    launch = ctx.spec.launch_type
    if launch == "EC2":
        return {"capacityProviderStrategy": [
            {"capacityProvider": naming.base(ctx.cluster), "weight": 1}]}
    if launch == "FARGATE_SPOT" and role == "worker":
        return {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}
    return {"launchType": "FARGATE"}


def ensure_service(ctx: StepContext, role: str, count: int) -> str:
    network = ctx.record.resources["network"]
    vpc: dict[str, Any] = {"subnets": network["subnets"],
                           "securityGroups": [network["security_group"]]}
    if ctx.spec.launch_type != "EC2":  # EC2 tasks with awsvpc cannot take a public IP
        vpc["assignPublicIp"] = "ENABLED" if ctx.settings.assign_public_ip else "DISABLED"
    name = naming.service(ctx.cluster, role)
    try:
        arn = ctx.clients.ecs.create_service(
            cluster=naming.base(ctx.cluster), serviceName=name,
            taskDefinition=ctx.record.resources["task_definitions"][role],
            desiredCount=count, networkConfiguration={"awsvpcConfiguration": vpc},
            propagateTags="SERVICE", enableECSManagedTags=True,
            tags=naming.ecs_kv(naming.tags(ctx.cluster)),
            **_placement(ctx, role))["service"]["serviceArn"]
    except ClientError as exc:
        if "already exists" not in str(exc) and error_code(exc) != "InvalidParameterException":
            raise
        arn = scale(ctx.clients.ecs, ctx.cluster, role, count)
    return arn


def scale(ecs: Any, cluster: str, role: str, count: int) -> str:
    return str(ecs.update_service(cluster=naming.base(cluster),
                                  service=naming.service(cluster, role),
                                  desiredCount=count)["service"]["serviceArn"])


def remove_service(ctx: StepContext, role: str) -> None:
    with gone_ok("ServiceNotFoundException", "ClusterNotFoundException",
                 "ServiceNotActiveException"):
        ctx.clients.ecs.delete_service(cluster=naming.base(ctx.cluster),
                                       service=naming.service(ctx.cluster, role), force=True)
