"""The ECS task event handler, invoked through chalice.test.Client with events of the
real schema."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.core.aws import Clients
from chalicelib.core.runtime import Runtime
from tests.support.data import fixture_json
from tests.support.task_events import deliver

PARAM = "/daskyard/local/demo/scheduler-address"


def task_event(task: str, created: str, version: int, status: str, ip: str) -> dict[str, Any]:
    detail = fixture_json("fargate_task_running.json")
    detail.update(taskArn=f"arn:aws:ecs:us-east-1:111122223333:task/daskyard-local-demo/{task}",
                  createdAt=created, version=version, lastStatus=status)
    detail["attachments"][0]["details"][3]["value"] = ip
    return detail


def address(clients: Clients) -> str | None:
    try:
        return str(clients.ssm.get_parameter(Name=PARAM)["Parameter"]["Value"])
    except clients.ssm.exceptions.ParameterNotFound:
        return None


def test_fargate_event_publishes_the_address(client: Client, clients: Clients,
                                             rt: Runtime) -> None:
    assert deliver(client, fixture_json("fargate_task_running.json")).startswith("published")
    assert address(clients) == "tls://10.0.0.139:8786"
    record = rt.registry.require("demo")
    assert record.scheduler.address == "tls://10.0.0.139:8786"
    assert not record.scheduler.stale


def test_ec2_bridge_mode_event_uses_instance_ip_and_host_port(client: Client, clients: Clients,
                                                              rt: Runtime) -> None:
    clients.ecs.create_cluster(clusterName="daskyard-local-demo")
    instance = clients.ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)[
        "Instances"][0]
    document = json.dumps({"instanceId": instance["InstanceId"], "region": "us-east-1",
                           "availabilityZone": "us-east-1a", "instanceType": "t3.medium",
                           "privateIp": instance["PrivateIpAddress"]})
    ci_arn = clients.ecs.register_container_instance(
        cluster="daskyard-local-demo", instanceIdentityDocument=document)["containerInstance"][
        "containerInstanceArn"]
    detail = fixture_json("fargate_task_running.json")
    detail.update(attachments=[], launchType="EC2", containerInstanceArn=ci_arn)
    detail["containers"][0]["networkBindings"] = [
        {"bindIP": "0.0.0.0", "containerPort": 8786, "hostPort": 32768, "protocol": "tcp"},
        {"bindIP": "0.0.0.0", "containerPort": 8787, "hostPort": 32769, "protocol": "tcp"}]
    assert deliver(client, detail).startswith("published")
    assert address(clients) == f"tls://{instance['PrivateIpAddress']}:32768"


def test_duplicate_event_changes_nothing(client: Client, clients: Clients) -> None:
    event = fixture_json("fargate_task_running.json")
    assert deliver(client, event).startswith("published")
    assert deliver(client, copy.deepcopy(event)) == "ignored: stale"
    assert address(clients) == "tls://10.0.0.139:8786"


def test_reordered_events_from_two_schedulers_keep_the_newest(client: Client, clients: Clients,
                                                              rt: Runtime) -> None:
    old_running = task_event("old", "2026-11-26T10:00:00.000Z", 2, "RUNNING", "10.0.0.1")
    old_stopped = task_event("old", "2026-11-26T10:00:00.000Z", 3, "STOPPED", "10.0.0.1")
    new_running = task_event("new", "2026-11-26T10:05:00.000Z", 2, "RUNNING", "10.0.0.2")
    assert deliver(client, new_running).startswith("published")
    # Late arrivals from the replaced scheduler, in the wrong order.
    assert deliver(client, old_stopped) == "ignored: not the current scheduler"
    assert deliver(client, old_running) == "ignored: stale"
    assert address(clients) == "tls://10.0.0.2:8786"
    assert not rt.registry.require("demo").scheduler.stale


def test_stopped_scheduler_marks_the_address_stale(client: Client, clients: Clients,
                                                   rt: Runtime) -> None:
    running = task_event("a", "2026-11-26T10:00:00.000Z", 2, "RUNNING", "10.0.0.1")
    stopped = task_event("a", "2026-11-26T10:00:00.000Z", 3, "STOPPED", "10.0.0.1")
    deliver(client, running)
    assert deliver(client, stopped) == "marked stale"
    assert rt.registry.require("demo").scheduler.stale
    assert address(clients) is None  # new workers wait rather than dial a dead scheduler


def test_foreign_group_is_ignored(client: Client, clients: Clients) -> None:
    detail = fixture_json("fargate_task_running.json")
    detail["group"] = "service:someone-elses-app"
    assert deliver(client, detail) == "ignored: not ours"
    assert address(clients) is None


def test_another_stages_scheduler_is_ignored(client: Client, clients: Clients,
                                             rt: Runtime) -> None:
    """A prod scheduler of the same cluster name, in the same account: the local stage's
    handler publishes nothing for it, in SSM or in the registry."""
    detail = fixture_json("fargate_task_running.json")
    detail["group"] = "service:daskyard-prod-demo-scheduler"
    assert deliver(client, detail) == "ignored: not ours"
    assert address(clients) is None
    assert not clients.ssm.get_parameters_by_path(Path="/daskyard/", Recursive=True)[
        "Parameters"]
    assert rt.registry.require("demo").scheduler.address == ""


@pytest.mark.parametrize("breakage", ["no_version", "bad_attachments", "no_address"])
def test_malformed_details_are_ignored_without_failing(client: Client, clients: Clients,
                                                      breakage: str) -> None:
    detail = fixture_json("fargate_task_running.json")
    if breakage == "no_version":
        del detail["version"]
    elif breakage == "bad_attachments":
        detail["attachments"] = "not a list"
    else:
        detail["attachments"][0]["details"] = []
    assert deliver(client, detail).startswith("ignored")
    assert address(clients) is None


def notebook_event(task: str, status: str, health: str = "UNKNOWN",
                   **extra: Any) -> dict[str, Any]:
    detail = task_event(task, "2026-11-27T10:00:00Z", 2, status, "10.0.0.7")
    detail.update(group="service:daskyard-local-demo-notebook", healthStatus=health, **extra)
    return detail


def test_notebook_events_say_whether_jupyter_serves_and_count_its_stops(
        client: Client, rt: Runtime) -> None:
    assert deliver(client, notebook_event("n1", "RUNNING")) == "notebook published"
    record = rt.registry.require("demo")
    assert (record.notebook.status, record.notebook.url) == \
        ("STARTING", "http://10.0.0.7:8888/lab")
    assert deliver(client, notebook_event("n1", "RUNNING", "HEALTHY")) == "notebook serving"
    # A late, duplicate RUNNING without the health verdict does not undo SERVING.
    assert deliver(client, notebook_event("n1", "RUNNING")) == "notebook published"
    assert rt.registry.require("demo").notebook.status == "SERVING"
    stopped = notebook_event("n1", "STOPPED", stoppedReason="Essential container in task "
                             "exited")
    stopped["containers"][0]["exitCode"] = 1
    assert deliver(client, stopped).startswith("notebook stopped")
    record = rt.registry.require("demo")
    assert (record.notebook.status, record.notebook.stops) == ("STOPPED", 1)
    assert record.notebook.error == "Essential container in task exited (exit code 1)"
    assert "notebook_task" not in record.public()
