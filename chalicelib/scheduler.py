"""The scheduler's address, in one place: the ECS task event handler publishes it (SSM,
the registry, the waiting execution's task token), WaitForScheduler waits on it, and
DeleteScheduler drops it.

ECS delivers events at least once and not in order. An address is ordered by
(task createdAt, detail.version): a later task beats an earlier one, and within a task
a higher version beats a lower one; a duplicate or stale event changes nothing. The
wait and the event each write their half and read the other's in one atomic update,
so whichever comes second completes the wait (at once if the scheduler already runs)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.errors import InvalidRequest
from chalicelib.core.models import ClusterRecord, Scheduler, Status
from chalicelib.core.observability import logger
from chalicelib.core.registry import Registry


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class NameValue(_Loose):
    name: str
    value: str = ""


class Attachment(_Loose):
    type: str = ""
    details: list[NameValue] = []


class Binding(_Loose):
    containerPort: int
    hostPort: int


class Container(_Loose):
    name: str = ""
    networkBindings: list[Binding] = []
    exitCode: int | None = None  # in STOPPED events, once the container has exited


class TaskDetail(_Loose):
    """The part of an 'ECS Task State Change' detail that discovery reads."""

    taskArn: str
    clusterArn: str
    group: str
    lastStatus: str
    version: int
    createdAt: str
    attachments: list[Attachment] = []
    containers: list[Container] = []
    containerInstanceArn: str | None = None
    healthStatus: str = "UNKNOWN"
    stoppedReason: str = ""


class Endpoint(BaseModel):
    private_ip: str
    port: int
    public_ip: str = ""

    @property
    def address(self) -> str:
        return f"tls://{self.private_ip}:{self.port}"  # every cluster speaks TLS only

    @property
    def dashboard_url(self) -> str:
        # HTTPS with the cluster's certificate, behind its token (daskyard_scheduler).
        return f"https://{self.public_ip or self.private_ip}:{naming.DASHBOARD_PORT}/status"


def _eni_detail(detail: TaskDetail, name: str) -> str:
    for attachment in detail.attachments:
        if attachment.type in ("eni", "ElasticNetworkInterface"):  # events say "eni"
            for item in attachment.details:
                if item.name == name:
                    return item.value
    return ""


def _public_ip_of_eni(clients: Clients, eni: str) -> str:
    if not eni:
        return ""
    try:
        found = clients.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])
    except ClientError:
        return ""  # the ENI of a short-lived task may already be gone
    for interface in found["NetworkInterfaces"]:
        return str(interface.get("Association", {}).get("PublicIp", ""))
    return ""


def endpoint(detail: TaskDetail, clients: Clients, port: int) -> Endpoint | None:
    """awsvpc (Fargate, or EC2 with awsvpc): the task's ENI. Bridge mode on EC2: the
    container instance's private IP and the host port bound to `port`."""
    private_ip = _eni_detail(detail, "privateIPv4Address")
    if private_ip:
        public = _public_ip_of_eni(clients, _eni_detail(detail, "networkInterfaceId"))
        return Endpoint(private_ip=private_ip, port=port, public_ip=public)
    host_port = next((b.hostPort for c in detail.containers for b in c.networkBindings
                      if b.containerPort == port), None)
    if host_port is None or not detail.containerInstanceArn:
        return None
    instance_id = clients.ecs.describe_container_instances(
        cluster=detail.clusterArn, containerInstances=[detail.containerInstanceArn])[
        "containerInstances"][0]["ec2InstanceId"]
    instance = clients.ec2.describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]
    return Endpoint(private_ip=instance["PrivateIpAddress"], port=host_port,
                    public_ip=instance.get("PublicIpAddress", ""))


def _order(detail: TaskDetail) -> str:
    return f"{detail.createdAt}#{detail.version:012d}"


def complete_wait(sfn: Any, record: ClusterRecord) -> bool:
    """Send the waiting execution its success; a token already used is fine."""
    if not record.tokens.scheduler:
        return False
    try:
        sfn.send_task_success(taskToken=record.tokens.scheduler, output=json.dumps(
            {"scheduler_address": record.scheduler.address}))
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("TaskDoesNotExist", "InvalidToken",
                                             "TaskTimedOut"):
            return False
        raise
    return True


def await_address(clients: Clients, registry: Registry, cluster: str, token: str | None) -> bool:
    """WaitForScheduler: store the task token; complete the wait at once when the
    address is already known. True when it was completed here."""
    if not token:
        raise InvalidRequest("WaitForScheduler needs the task token ($$.Task.Token)")
    record = registry.waits.await_scheduler(cluster, token)
    if record is not None and record.scheduler.address and not record.scheduler.stale:
        return complete_wait(clients.sfn, record)
    return False


def put_parameter(clients: Clients, names: naming.Names, name: str, value: str) -> None:
    """Write one of the cluster's SSM parameters, tagged as the cluster's when made (SSM
    takes tags on a create only, never with Overwrite)."""
    try:
        clients.ssm.put_parameter(Name=name, Value=value, Type="String",
                                  Tags=naming.kv(names.tags()))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ParameterAlreadyExists":
            raise
        clients.ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)


def delete_parameter(clients: Clients, name: str) -> None:
    """Delete one of the cluster's SSM parameters; already gone is fine."""
    try:
        clients.ssm.delete_parameter(Name=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ParameterNotFound":
            raise


def _put_address(clients: Clients, names: naming.Names, address: str) -> None:
    put_parameter(clients, names, names.scheduler_parameter(), address)


def delete_address(clients: Clients, names: naming.Names) -> None:
    """Delete the scheduler's address parameter; already gone is fine."""
    delete_parameter(clients, names.scheduler_parameter())


def delete_adapt(clients: Clients, names: naming.Names) -> None:
    """Delete the scheduler's adaptive bounds (adaptive scaling off) and its last request
    for a worker count; none is fine."""
    delete_parameter(clients, names.adapt_parameter())
    delete_parameter(clients, names.desired_workers_parameter())


def _scheduler_running(detail: TaskDetail, names: naming.Names, clients: Clients,
                       registry: Registry) -> str:
    cluster = names.cluster
    found = endpoint(detail, clients, naming.SCHEDULER_PORT)
    if found is None:
        logger.warning("scheduler task without an address", task=detail.taskArn)
        return "ignored: no address in event"
    record = registry.scheduler.publish(cluster, Scheduler(
        address=found.address, task=detail.taskArn, order=_order(detail),
        public_ip=found.public_ip, dashboard_url=found.dashboard_url))
    if record is None:
        logger.info("stale or duplicate scheduler event", task=detail.taskArn,
                    version=detail.version)
        return "ignored: stale"
    _put_address(clients, names, found.address)
    complete_wait(clients.sfn, record)
    logger.info("scheduler address published", cluster=cluster, address=found.address)
    return f"published {found.address}"


def _scheduler_stopped(detail: TaskDetail, names: naming.Names, clients: Clients,
                       registry: Registry) -> str:
    cluster = names.cluster
    record = registry.scheduler.stopped(cluster, detail.taskArn, _order(detail))
    if record is None:
        return "ignored: not the current scheduler"
    delete_address(clients, names)
    # A replacement may have been published between our update and the delete; a
    # cluster being destroyed gets no address back.
    latest = registry.get(cluster)
    if latest and latest.scheduler.address and not latest.scheduler.stale \
            and latest.status in (Status.CREATING, Status.READY):
        _put_address(clients, names, latest.scheduler.address)
    return "marked stale"


def handle_task_event(detail: dict[str, Any], clients: Clients, registry: Registry,
                      stage: str) -> str:
    """Returns what was done, for logs and tests. Never raises for a foreign or
    malformed event (another stage's included): those are logged and ignored."""
    ours = naming.cluster_from_group(stage, str(detail.get("group", "")))
    if ours is None:
        logger.info("not a daskyard task", group=detail.get("group"))
        return "ignored: not ours"
    try:
        task = TaskDetail.model_validate(detail)
    except ValidationError as exc:
        logger.warning("malformed task event", errors=exc.errors(include_input=False))
        return "ignored: malformed"
    cluster, role = ours
    if role == "workers":  # a worker's state says nothing about the address
        return f"ignored: {role} {task.lastStatus}"
    if role == "scheduler" and task.lastStatus == "RUNNING":
        return _scheduler_running(task, naming.Names(stage, cluster), clients, registry)
    if role == "scheduler" and task.lastStatus == "STOPPED":
        return _scheduler_stopped(task, naming.Names(stage, cluster), clients, registry)
    if role == "notebook":
        return _notebook_event(task, cluster, clients, registry)
    return f"ignored: {role} {task.lastStatus}"


def _notebook_event(task: TaskDetail, cluster: str, clients: Clients,
                    registry: Registry) -> str:
    """RUNNING: its URL (STARTING); RUNNING and HEALTHY: Jupyter answers (SERVING), which
    WaitForNotebook waits for; STOPPED: why, counted, so a crash loop fails the create
    with its reason instead of a READY cluster whose notebook never answers."""
    if task.lastStatus == "STOPPED":
        exit_codes = [c.exitCode for c in task.containers if c.exitCode is not None]
        why = (task.stoppedReason or "stopped") + \
            (f" (exit code {exit_codes[0]})" if exit_codes else "")
        registry.notebook.stopped(cluster, task.taskArn, why)
        return f"notebook stopped: {why}"
    if task.lastStatus != "RUNNING":
        return f"ignored: notebook {task.lastStatus}"
    found = endpoint(task, clients, naming.NOTEBOOK_PORT)
    if found is None:
        return "ignored: no address in event"
    host = found.public_ip or found.private_ip
    serving = task.healthStatus == "HEALTHY"
    registry.notebook.publish(cluster, task.taskArn, found.private_ip,
                              f"http://{host}:{naming.NOTEBOOK_PORT}/lab", serving)
    return "notebook serving" if serving else "notebook published"
