"""ECS services of a cluster: made by StartScheduler and StartWorkers, scaled by the API.
Where their tasks run and how they are networked is the launch type's (launch_types.py)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.launch_types import launch_type
from chalicelib.core.runtime import Runtime
from chalicelib.steps import StepCall, error_code, gone_ok


def ensure_service(rt: Runtime, call: StepCall, role: str, count: int) -> str:
    name, launch = call.names.service(role), launch_type(call.spec)
    try:
        arn = rt.clients.ecs.create_service(
            cluster=call.names.base(), serviceName=name,
            taskDefinition=call.record.resources.task_definitions[role],
            desiredCount=count, **launch.networking(rt, call),
            propagateTags="SERVICE", enableECSManagedTags=True,
            tags=naming.ecs_kv(call.tags()),
            **launch.placement(call, role))["service"]["serviceArn"]
    except ClientError as exc:
        # ECS answers a name in use ("Creation of service was not idempotent") with the
        # code it gives any bad parameter: only a service of that name, active, that
        # takes the new count (UpdateService) is the one a retried step made.
        if error_code(exc) != "InvalidParameterException":
            raise
        try:
            arn = scale(rt.clients.ecs, call.names, role, count)
        except ClientError as missing:
            if error_code(missing) not in ("ServiceNotFoundException",
                                           "ServiceNotActiveException"):
                raise
            raise exc from None  # no such service: the parameter was bad, say so
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
