"""The scheduler's address, in one place: its task's events publish it (SSM, the
registry, the waiting execution's task token), WaitForScheduler waits on it, and
DeleteScheduler drops it. Where a task listens (`endpoint`) serves the notebook too.

ECS delivers events at least once and not in order. An address is ordered by
(task createdAt, detail.version) (TaskEvent.order): a later task beats an earlier one,
and within a task a higher version beats a lower one; a duplicate or stale event changes
nothing. The wait and the event each write their half and read the other's in one
atomic update, so whichever comes second completes the wait (at once if the scheduler
already runs)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.errors import InvalidRequest
from chalicelib.core.models import ClusterRecord, Scheduler, Status
from chalicelib.core.observability import logger
from chalicelib.core.registry import Registry
from chalicelib.core.runtime import Runtime
from chalicelib.parameters import delete_parameter, put_parameter
from chalicelib.task_events import TaskEvent


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


def endpoint(event: TaskEvent, clients: Clients, port: int) -> Endpoint | None:
    """awsvpc (Fargate, or EC2 with awsvpc): the task's ENI. Bridge mode on EC2: the
    container instance's private IP and the host port bound to `port`."""
    private_ip = event.eni_detail("privateIPv4Address")
    if private_ip:
        public = _public_ip_of_eni(clients, event.eni_detail("networkInterfaceId"))
        return Endpoint(private_ip=private_ip, port=port, public_ip=public)
    host_port = event.host_port(port)
    if host_port is None or not event.container_instance_arn:
        return None
    instance_id = clients.ecs.describe_container_instances(
        cluster=event.cluster_arn, containerInstances=[event.container_instance_arn])[
        "containerInstances"][0]["ec2InstanceId"]
    instance = clients.ec2.describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]
    return Endpoint(private_ip=instance["PrivateIpAddress"], port=host_port,
                    public_ip=instance.get("PublicIpAddress", ""))


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


def _put_address(clients: Clients, names: naming.Names, address: str) -> None:
    put_parameter(clients, names, names.scheduler_parameter(), address)


def delete_address(clients: Clients, names: naming.Names) -> None:
    """Delete the scheduler's address parameter; already gone is fine."""
    delete_parameter(clients, names.scheduler_parameter())


def react(rt: Runtime, event: TaskEvent) -> str:
    """A scheduler task's RUNNING publishes its address, its STOPPED marks it stale.
    Returns what was done ("" for any other event)."""
    if event.role != "scheduler":
        return ""
    if event.status == "RUNNING":
        return _running(event, rt.names(event.cluster), rt.clients, rt.registry)
    if event.status == "STOPPED":
        return _stopped(event, rt.names(event.cluster), rt.clients, rt.registry)
    return ""


def _running(event: TaskEvent, names: naming.Names, clients: Clients,
             registry: Registry) -> str:
    found = endpoint(event, clients, naming.SCHEDULER_PORT)
    if found is None:
        logger.warning("scheduler task without an address", task=event.task_arn)
        return "ignored: no address in event"
    record = registry.scheduler.publish(event.cluster, Scheduler(
        address=found.address, task=event.task_arn, order=event.order(),
        public_ip=found.public_ip, dashboard_url=found.dashboard_url))
    if record is None:
        logger.info("stale or duplicate scheduler event", task=event.task_arn,
                    version=event.version)
        return "ignored: stale"
    _put_address(clients, names, found.address)
    complete_wait(clients.sfn, record)
    logger.info("scheduler address published", cluster=event.cluster, address=found.address)
    return f"published {found.address}"


def _stopped(event: TaskEvent, names: naming.Names, clients: Clients,
             registry: Registry) -> str:
    record = registry.scheduler.stopped(event.cluster, event.task_arn, event.order())
    if record is None:
        return "ignored: not the current scheduler"
    delete_address(clients, names)
    # A replacement may have been published between our update and the delete; a
    # cluster being destroyed gets no address back.
    latest = registry.get(event.cluster)
    if latest and latest.scheduler.address and not latest.scheduler.stale \
            and latest.status in (Status.CREATING, Status.READY):
        _put_address(clients, names, latest.scheduler.address)
    return "marked stale"
