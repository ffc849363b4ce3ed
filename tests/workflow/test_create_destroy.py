"""The real ASL, executed by the emulator's state machine interpreter, each Lambda task
routed to the real Chalice handler in-process."""

from __future__ import annotations

from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime
from daskyard.local.inventory import leftovers
from daskyard.local.stack import LocalMode
from tests.support.clusters import EXPECTED_RESOURCES, create, destroy
from tests.support.records import force


def test_create_succeeds_and_registry_lists_every_resource(rt: Runtime, stack: LocalMode) -> None:
    out = create(rt, stack)
    assert out["status"] == "SUCCEEDED", out
    record = rt.registry.require("demo")
    assert record.status == Status.READY
    made = record.resources
    assert {k for k, v in made.model_dump().items() if v} >= EXPECTED_RESOURCES
    assert record.scheduler.address.startswith("tls://127.")
    assert record.scheduler.dashboard_url.endswith(":8787/status")
    assert made.drive and made.network
    assert len(made.drive.mount_targets) == len(made.network.subnets)
    assert set(made.services) == {"scheduler", "worker"}


def test_destroy_leaves_nothing_tagged_with_the_cluster(rt: Runtime, stack: LocalMode) -> None:
    assert create(rt, stack)["status"] == "SUCCEEDED"
    assert leftovers(stack.clients, "demo")  # the check finds what is there
    out = destroy(rt, stack)
    assert out["status"] == "SUCCEEDED", out
    assert leftovers(stack.clients, "demo") == []
    assert rt.registry.require("demo").status == Status.DELETED


def test_destroy_twice_in_a_row_succeeds(rt: Runtime, stack: LocalMode) -> None:
    assert create(rt, stack)["status"] == "SUCCEEDED"
    assert destroy(rt, stack)["status"] == "SUCCEEDED"
    force(rt, "demo", status=Status.READY.value)  # a second destroy request
    assert destroy(rt, stack)["status"] == "SUCCEEDED"
    assert leftovers(stack.clients, "demo") == []


def test_ec2_launch_type_creates_and_destroys_its_capacity(rt: Runtime, stack: LocalMode) -> None:
    assert create(rt, stack, launch_type="EC2", instance_type="t3.medium")["status"] == "SUCCEEDED"
    clients = stack.clients
    assert clients is not None
    found = leftovers(clients, "demo")
    for kind in ("launch template", "auto scaling group", "capacity provider"):
        assert any(f.startswith(kind) for f in found), (kind, found)
    # Bridge mode: the tasks go out through their instance, which has the public IP an
    # awsvpc task on EC2 could never have, and only the instance reaches the instance role.
    names = rt.names("demo")
    for role in ("scheduler", "worker"):
        td = clients.ecs.describe_task_definition(taskDefinition=names.task_family(role))[
            "taskDefinition"]
        assert td["networkMode"] == "bridge", role
        service = clients.ecs.describe_services(cluster=names.base(), services=[
            names.service(role)])["services"][0]
        assert not service.get("networkConfiguration"), role
    [template] = clients.ec2.describe_launch_template_versions(
        LaunchTemplateName=names.base())["LaunchTemplateVersions"]
    data = template["LaunchTemplateData"]
    [interface] = data["NetworkInterfaces"]
    assert interface["AssociatePublicIpAddress"] is True
    assert interface["Groups"] == [rt.registry.require("demo").resources.network.security_group]
    assert data["MetadataOptions"] == {"HttpTokens": "required", "HttpPutResponseHopLimit": 1}
    tagged = {t["ResourceType"]: {x["Key"]: x["Value"] for x in t["Tags"]}
              for t in data["TagSpecifications"]}
    assert set(tagged) >= {"instance", "volume", "network-interface"}
    assert all(t["daskyard:stage"] == "local" and t["daskyard:cluster"] == "demo"
               for t in tagged.values())
    assert destroy(rt, stack)["status"] == "SUCCEEDED"
    assert leftovers(stack.clients, "demo") == []


# Faults at every step, throttling and crashes: tests/reliability/.


def test_two_clusters_side_by_side_never_touch_each_other(rt: Runtime, stack: LocalMode) -> None:
    assert create(rt, stack, "alpha")["status"] == "SUCCEEDED"
    assert create(rt, stack, "beta")["status"] == "SUCCEEDED"
    assert stack.clients is not None
    beta_before = sorted(leftovers(stack.clients, "beta"))
    assert destroy(rt, stack, "alpha")["status"] == "SUCCEEDED"
    assert leftovers(stack.clients, "alpha") == []
    assert sorted(leftovers(stack.clients, "beta")) == beta_before
    assert rt.registry.require("beta").status == Status.READY
