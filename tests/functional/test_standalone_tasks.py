"""RunTask's standalone tasks in local mode, as ECS runs them (daskyard.local.standalone):
PROVISIONING at RunTask, RUNNING on an address of its own shown by DescribeTasks and on
its ENI, StopTask ends it and deletes the ENI; ListAccountSettings answers the account's
effective settings. Control-plane tasks here; tests/e2e/test_peer_fargate.py runs real
ones (their output in CloudWatch Logs, their exit codes)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from daskyard.local.stack import LocalMode
from tests.support.tasks import described, register_and_run
from tests.support.waiting import eventually


def test_run_task_runs_on_its_own_address_and_stop_task_ends_it(stack: LocalMode) -> None:
    clients = stack.clients
    assert clients is not None and stack.agent is not None
    task = register_and_run(clients, ["dask", "scheduler"])
    assert task["lastStatus"] == "PROVISIONING" and task["desiredStatus"] == "RUNNING"
    arn = task["taskArn"]
    running = eventually(lambda: (t := described(clients, arn))["lastStatus"] == "RUNNING"
                         and t, timeout=10, what="task RUNNING")
    # moto would walk a described task on to STOPPED: it stays RUNNING while it runs.
    assert described(clients, arn)["lastStatus"] == "RUNNING"
    [eni] = [a for a in running["attachments"] if a["type"] == "ElasticNetworkInterface"]
    details = {d["name"]: d["value"] for d in eni["details"]}
    ip = details["privateIPv4Address"]
    assert ip.startswith("127.") and ip in [t.ip for t in stack.standalone.running()]
    [interface] = clients.ec2.describe_network_interfaces(
        NetworkInterfaceIds=[details["networkInterfaceId"]])["NetworkInterfaces"]
    assert interface["PrivateIpAddresses"][0]["PrivateIpAddress"] == ip
    assert interface["Association"]["PublicIp"] == ip  # the public address is its own too
    # The command ran is the override's; the events carry the task's address.
    [local] = stack.standalone.running()
    assert local.container["command"] == ["dask", "scheduler", "--x"]
    statuses = [e["lastStatus"] for e in stack.agent.events if e["taskArn"] == arn]
    assert statuses == ["PENDING", "RUNNING"]

    clients.ecs.stop_task(cluster="standalone", task=arn, reason="done with it")
    stopped = eventually(lambda: (t := described(clients, arn))["lastStatus"] == "STOPPED"
                         and t, timeout=10, what="task STOPPED")
    assert stopped["stoppedReason"] == "done with it" and not stack.standalone.running()
    with pytest.raises(ClientError, match="InvalidNetworkInterfaceID"):
        clients.ec2.describe_network_interfaces(
            NetworkInterfaceIds=[details["networkInterfaceId"]])  # ECS deleted it
    assert [e["lastStatus"] for e in stack.agent.events if e["taskArn"] == arn][-1] \
        == "STOPPED"


def test_account_settings_are_the_effective_ones(stack: LocalMode) -> None:
    ecs = stack.clients.ecs if stack.clients else None
    assert ecs is not None
    [setting] = ecs.list_account_settings(name="taskLongArnFormat",
                                          effectiveSettings=True)["settings"]
    assert setting["value"] == "enabled"
    ecs.put_account_setting(name="containerInsights", value="enabled")
    [insights] = ecs.list_account_settings(name="containerInsights",
                                           effectiveSettings=True)["settings"]
    assert insights["value"] == "enabled"  # what was put, not the default
