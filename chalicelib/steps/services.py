"""ECS services of a cluster: made by StartScheduler and StartWorkers, scaled by the API."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, error_code, gone_ok


def _placement(rt: Runtime, call: StepCall, role: str) -> dict[str, Any]:
    """The scheduler always runs on on-demand capacity: a Spot interruption of the
    scheduler would take the whole cluster with it. Workers may use Fargate Spot."""
    launch = call.spec.launch_type
    if launch == "EC2":
        return {"capacityProviderStrategy": [
            {"capacityProvider": call.names.base(), "weight": 1}]}
    if launch == "FARGATE_SPOT" and role == "worker":
        return {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}
    return {"launchType": "FARGATE"}


def _network(rt: Runtime, call: StepCall) -> dict[str, Any]:
    """awsvpc tasks' subnets, security group and public IP. Bridge tasks (EC2) have
    none of their own: they use their instance's (set_up_ecs_cluster's launch template)."""
    if call.spec.network_mode == "bridge":
        return {}
    network = call.network
    return {"networkConfiguration": {"awsvpcConfiguration": {
        "subnets": network.subnets, "securityGroups": [network.security_group],
        "assignPublicIp": "ENABLED" if rt.settings.assign_public_ip else "DISABLED"}}}


def ensure_service(rt: Runtime, call: StepCall, role: str, count: int) -> str:
    name = call.names.service(role)
    try:
        arn = rt.clients.ecs.create_service(
            cluster=call.names.base(), serviceName=name,
            taskDefinition=call.record.resources.task_definitions[role],
            desiredCount=count, **_network(rt, call),
            propagateTags="SERVICE", enableECSManagedTags=True,
            tags=naming.ecs_kv(call.tags()),
            **_placement(rt, call, role))["service"]["serviceArn"]
    except ClientError as exc:
        if "already exists" not in str(exc) and error_code(exc) != "InvalidParameterException":
            raise
        arn = scale(rt.clients.ecs, call.names, role, count)
    return arn


def scale(ecs: Any, names: naming.Names, role: str, count: int) -> str:
    return str(ecs.update_service(cluster=names.base(),
                                  service=names.service(role),
                                  desiredCount=count)["service"]["serviceArn"])


def delete_service(rt: Runtime, call: StepCall, role: str) -> None:
    with gone_ok("ServiceNotFoundException", "ClusterNotFoundException",
                 "ServiceNotActiveException"):
        rt.clients.ecs.delete_service(cluster=call.names.base(),
                                       service=call.names.service(role), force=True)
