"""Discovery without AWS (chalicelib.discovery): which task event wins, and where an
event says the scheduler is."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import discovery
from chalicelib.task_events import TaskEvent, parse
from tests.support.data import fixture_json


def as_event(raw: dict[str, Any]) -> TaskEvent:
    return parse({"source": "aws.ecs", "detail-type": "ECS Task State Change",
                  "detail": raw}, "local")


def detail(created: str = "2026-11-26T10:12:54.334Z", version: int = 3,
           **changes: Any) -> TaskEvent:
    raw = fixture_json("fargate_task_running.json")
    raw.update(createdAt=created, version=version, **changes)
    return as_event(raw)


def test_a_later_task_beats_an_earlier_one_whatever_their_versions() -> None:
    earlier = detail("2026-11-26T10:12:54.334Z", version=99)
    later = detail("2026-11-26T10:13:01.001Z", version=1)
    assert later.order() > earlier.order()


@pytest.mark.parametrize(("lower", "higher"), [(1, 2), (9, 10), (99, 100), (3, 1_000_000)])
def test_within_a_task_a_higher_version_beats_a_lower_one(lower: int, higher: int) -> None:
    # DynamoDB compares the strings (scheduler_order < :o), so 10 must sort after 9.
    assert detail(version=higher).order() > detail(version=lower).order()


def test_a_duplicate_event_is_not_newer() -> None:
    assert detail().order() == detail().order()


class Stub:
    """A client whose calls return the canned answers given, and record their arguments."""

    def __init__(self, **answers: Any) -> None:
        self.answers, self.calls = answers, []  # type: ignore[var-annotated]

    def __getattr__(self, operation: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append((operation, kwargs))
            answer = self.answers[operation]
            if isinstance(answer, Exception):
                raise answer
            return answer
        return call


def clients(ec2: Stub | None = None, ecs: Stub | None = None) -> Any:
    """Stands in for chalicelib's Clients: the two clients discovery may call."""
    return SimpleNamespace(ec2=ec2 or Stub(), ecs=ecs or Stub())


def test_an_awsvpc_task_is_at_its_eni_address_with_the_eni_public_ip() -> None:
    ec2 = Stub(describe_network_interfaces={"NetworkInterfaces": [
        {"Association": {"PublicIp": "3.4.5.6"}}]})
    found = discovery.endpoint(detail(), clients(ec2=ec2), 8786)
    assert found is not None
    assert found.address == "tls://10.0.0.139:8786"
    assert found.dashboard_url == "https://3.4.5.6:8787/status"
    assert ec2.calls == [("describe_network_interfaces",
                          {"NetworkInterfaceIds": ["eni-abcd1234"]})]


def test_an_eni_already_gone_leaves_the_private_address() -> None:
    gone = ClientError({"Error": {"Code": "InvalidNetworkInterfaceID.NotFound"}},
                       "DescribeNetworkInterfaces")
    found = discovery.endpoint(detail(), clients(ec2=Stub(describe_network_interfaces=gone)),
                               8786)
    assert found is not None and found.public_ip == ""
    assert found.dashboard_url == "https://10.0.0.139:8787/status"


def test_a_bridge_mode_task_is_at_its_instance_and_host_port() -> None:
    raw = fixture_json("fargate_task_running.json")
    bridge = copy.deepcopy(raw)
    bridge.update(attachments=[], launchType="EC2",
                  containerInstanceArn="arn:aws:ecs:us-east-1:111122223333:container-instance/x")
    bridge["containers"][0]["networkBindings"] = [
        {"containerPort": 8787, "hostPort": 32001}, {"containerPort": 8786, "hostPort": 32000}]
    ecs = Stub(describe_container_instances={"containerInstances": [
        {"ec2InstanceId": "i-0abc"}]})
    ec2 = Stub(describe_instances={"Reservations": [{"Instances": [
        {"PrivateIpAddress": "10.0.1.7"}]}]})
    found = discovery.endpoint(as_event(bridge), clients(ec2=ec2, ecs=ecs),
                               8786)
    assert found is not None and found.address == "tls://10.0.1.7:32000"
    assert ec2.calls == [("describe_instances", {"InstanceIds": ["i-0abc"]})]


def test_an_event_without_an_address_has_no_endpoint() -> None:
    found = discovery.endpoint(detail(attachments=[]), clients(), 8786)
    assert found is None
