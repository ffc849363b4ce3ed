"""Seed step 5, second half: a task definition per role, with the shared drive as an
EFS volume (encrypted in transit, through the cluster's access point), awslogs to a log
group with retention, the cluster's TLS material and the Jupyter token as ECS secrets
(never plain variables: the task execution role reads them, the task role cannot) and
the SSM parameter name the entrypoints read the scheduler address from."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.errors import InvalidRequest, NotReady
from chalicelib.core.launch_types import launch_type
from chalicelib.core.runtime import Runtime
from chalicelib.core.settings import NOTEBOOK_SIZE, SCHEDULER_SIZE
from chalicelib.steps import StepCall, StepResult, error_code, gone_ok, scheduler_task

PORTS = {"scheduler": [naming.SCHEDULER_PORT, naming.DASHBOARD_PORT],
         "worker": [],
         "notebook": [naming.NOTEBOOK_PORT]}
# Bridge mode (EC2): the ports published on the instance. The scheduler's and the
# notebook's on the same host port (the security group opens those to the allowed
# CIDRs; a cluster has one of each); the worker's on one ECS picks (0), so an instance
# holds several workers, reached within the group, which admits all TCP.
BRIDGE_PORTS = {"scheduler": [(p, p) for p in PORTS["scheduler"]],
                "worker": [(naming.WORKER_PORT, 0)],
                "notebook": [(p, p) for p in PORTS["notebook"]]}
# Each network mode's mappings per role (ClusterSpec.network_mode, its launch type's):
# awsvpc tasks have their own interface, on which the container's port is the task's.
PORT_MAPPINGS = {
    "awsvpc": {role: [{"containerPort": p, "protocol": "tcp"} for p in ports]
               for role, ports in PORTS.items()},
    "bridge": {role: [{"containerPort": c, "hostPort": h, "protocol": "tcp"} for c, h in ports]
               for role, ports in BRIDGE_PORTS.items()}}

# Jupyter answering on its port, checked by the images' entrypoint (no curl in the image).
NOTEBOOK_HEALTH_CHECK = {
    "command": ["CMD", "python", "/usr/local/bin/daskyard-entrypoint", "health", "notebook"],
    "interval": 10, "timeout": 5, "retries": 3, "startPeriod": 60}


def _size(rt: Runtime, call: StepCall, role: str) -> tuple[int, int]:
    spec = call.spec
    if role == "worker":
        return spec.worker_cpu, spec.worker_memory
    cpu, memory = SCHEDULER_SIZE if role == "scheduler" else NOTEBOOK_SIZE
    return launch_type(spec).fit(spec, cpu, memory)


def container(rt: Runtime, call: StepCall, role: str) -> dict[str, Any]:
    cluster, names = call.cluster, call.names
    cpu, memory = _size(rt, call, role)
    definition: dict[str, Any] = {
        "name": role, "image": call.made.images[role], "essential": True,
        "command": [role], "cpu": cpu, "memoryReservation": memory,
        "portMappings": port_mappings(call.spec.network_mode, role),
        "environment": [
            {"name": "DASKYARD_CLUSTER", "value": cluster},
            {"name": "DASKYARD_SCHEDULER_PARAMETER", "value": names.scheduler_parameter()},
            {"name": "DASKYARD_WORKER_MEMORY", "value": f"{memory}MiB"},
            {"name": "AWS_REGION", "value": rt.clients.region},
            *_variables(call, role)],
        # The scheduler mounts no drive: it starts before the mount targets exist.
        "mountPoints": [] if role == "scheduler" else [
            {"sourceVolume": "efs", "containerPath": "/efs"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": names.log_group(), "awslogs-region": rt.clients.region,
            "awslogs-stream-prefix": role}},
        "readonlyRootFilesystem": False,
        "user": "1000:1000",
    }
    definition["secrets"] = task_secrets(call.record.resources.credentials_secret, role)
    if role == "scheduler":
        definition["environment"] += scheduler_task.environment(rt, call)
    if role == "notebook":  # WaitForNotebook waits for this check to pass (HEALTHY)
        definition["healthCheck"] = NOTEBOOK_HEALTH_CHECK
    return definition


def port_mappings(network_mode: str, role: str) -> list[dict[str, Any]]:
    return [dict(mapping) for mapping in PORT_MAPPINGS[network_mode][role]]


def _variables(call: StepCall, role: str) -> list[dict[str, str]]:
    """The owner's variables (checked not to shadow ours) and the worker's threads."""
    spec = call.spec
    own = {"DASKYARD_WORKER_THREADS": str(spec.threads)} if role == "worker" else {}
    return [{"name": k, "value": v} for k, v in sorted({**spec.environment, **own}.items())]


def task_secrets(arn: str, role: str) -> list[dict[str, str]]:
    """ECS `secrets` giving a task the CA and its certificate and key, each a JSON key
    of the cluster's credentials secret (`<arn>:<json-key>::`). The notebook is a client
    of the cluster, so it gets the client certificate, and the Jupyter token; scheduler
    and workers the node's certificate; the scheduler the same token for its dashboard."""
    if not arn:  # GenerateSecurityKey runs first; without it no task may start
        raise NotReady("no credentials secret recorded yet")
    kind = "client" if role == "notebook" else "node"
    fields = [("DASKYARD_TLS_CA", "ca"), ("DASKYARD_TLS_CERT", f"{kind}_cert"),
              ("DASKYARD_TLS_KEY", f"{kind}_key")]
    if role == "notebook":
        fields.append(("JUPYTER_TOKEN", "jupyter_token"))
    if role == "scheduler":  # the dashboard's token (images/daskyard_scheduler.py)
        fields.append(("DASKYARD_DASHBOARD_TOKEN", "jupyter_token"))
    return [{"name": env, "valueFrom": f"{arn}:{field}::"} for env, field in fields]


def create(rt: Runtime, call: StepCall) -> StepResult:
    names, settings, logs = call.names, rt.settings, rt.clients.logs
    found = call.event.images
    if len(found) != 1 or set(found[0]) != set(naming.ROLES):
        raise InvalidRequest("RegisterTaskDefinitions needs the images PrepareImages found")
    call.remember(images=found[0])  # the record lists what the cluster runs
    tags = call.tags()
    try:
        logs.create_log_group(logGroupName=names.log_group(), tags=tags)
    except ClientError as exc:
        if error_code(exc) != "ResourceAlreadyExistsException":
            raise
    logs.put_retention_policy(logGroupName=names.log_group(),
                              retentionInDays=settings.log_retention_days)
    call.remember(log_group=names.log_group())

    drive = call.drive
    task_roles = {"scheduler": scheduler_task.ensure_role(rt, call)}
    arns = {}
    for role in naming.ROLES:
        cpu, memory = _size(rt, call, role)
        arns[role] = rt.clients.ecs.register_task_definition(
            family=names.task_family(role), networkMode=call.spec.network_mode,
            requiresCompatibilities=[launch_type(call.spec).compatibility],
            cpu=str(cpu), memory=str(memory),
            executionRoleArn=settings.task_execution_role_arn,
            taskRoleArn=task_roles.get(role, settings.task_role_arn),
            containerDefinitions=[container(rt, call, role)],
            volumes=[] if role == "scheduler" else [{"name": "efs", "efsVolumeConfiguration": {
                "fileSystemId": drive.file_system, "transitEncryption": "ENABLED",
                "authorizationConfig": {"accessPointId": drive.access_point,
                                        "iam": "ENABLED"}}}],
            tags=naming.ecs_kv(tags))["taskDefinition"]["taskDefinitionArn"]
    call.remember(task_definitions=arns)
    return arns


def delete(rt: Runtime, call: StepCall) -> StepResult:
    ecs = rt.clients.ecs
    for role in naming.ROLES:
        for status in ("ACTIVE", "INACTIVE"):
            pages = ecs.get_paginator("list_task_definitions").paginate(
                familyPrefix=call.names.task_family(role), status=status)
            for arn in [a for p in pages for a in p["taskDefinitionArns"]]:
                # familyPrefix is a prefix: 'demo-scheduler' must not take 'demo-scheduler2'.
                if arn.split("/")[-1].rsplit(":", 1)[0] != call.names.task_family(role):
                    continue
                if status == "ACTIVE":
                    ecs.deregister_task_definition(taskDefinition=arn)
                with gone_ok("ClientException"):
                    ecs.delete_task_definitions(taskDefinitions=[arn])
    with gone_ok("ResourceNotFoundException"):
        rt.clients.logs.delete_log_group(logGroupName=call.names.log_group())
    scheduler_task.delete_role(rt, call)
    return {}
