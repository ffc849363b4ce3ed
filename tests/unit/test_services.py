"""ensure_service (chalicelib/steps/services.py) is idempotent without reading ECS's
message text: a retried step finds its service and scales it; a bad parameter surfaces
as itself, not as the service being missing. Pure: ECS stubbed with botocore's Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from chalicelib.core.models import Network
from chalicelib.core.naming import Names
from chalicelib.steps.services import ensure_service
from tests.support.clusters import spec

ARN = "arn:aws:ecs:us-east-1:123456789012:service/daskyard-dev-demo/daskyard-dev-demo-workers"
CREATE = {"cluster": "daskyard-dev-demo", "serviceName": "daskyard-dev-demo-workers",
          "taskDefinition": "td-worker", "desiredCount": 3, "networkConfiguration": ANY,
          "propagateTags": "SERVICE", "enableECSManagedTags": True, "tags": ANY,
          "launchType": "FARGATE"}
UPDATE = {"cluster": "daskyard-dev-demo", "service": "daskyard-dev-demo-workers",
          "desiredCount": 3}


@pytest.fixture
def ecs() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ecs", region_name="us-east-1", aws_access_key_id="k",
                          aws_secret_access_key="s")  # the Stubber sends nothing
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def ensure(client: Any) -> str:
    rt: Any = SimpleNamespace(clients=SimpleNamespace(ecs=client),
                              settings=SimpleNamespace(assign_public_ip=False))
    call: Any = SimpleNamespace(
        spec=spec(), names=Names("dev", "demo"), tags=dict,
        record=SimpleNamespace(resources=SimpleNamespace(task_definitions={"worker": "td-worker"})),
        network=Network(vpc="vpc-1", subnets=["subnet-1"], security_group="sg-1"))
    return ensure_service(rt, call, "worker", 3)


def test_a_retried_step_scales_the_service_it_made(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_client_error("create_service", "InvalidParameterException",
                             "Creation of service was not idempotent.", 400, CREATE)
    stubber.add_response("update_service", {"service": {"serviceArn": ARN}}, UPDATE)
    assert ensure(client) == ARN


@pytest.mark.parametrize("missing", ["ServiceNotFoundException", "ServiceNotActiveException"])
def test_a_bad_parameter_surfaces_as_itself(ecs: tuple[Any, Stubber], missing: str) -> None:
    client, stubber = ecs
    stubber.add_client_error("create_service", "InvalidParameterException",
                             "subnets can have at most 16 items.", 400, CREATE)
    stubber.add_client_error("update_service", missing, "", 400, UPDATE)
    with pytest.raises(ClientError) as raised:
        ensure(client)
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "subnets can have at most 16 items" in str(raised.value)


def test_any_other_error_is_raised_without_looking_for_the_service(
        ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_client_error("create_service", "ClusterNotFoundException", "gone", 400, CREATE)
    with pytest.raises(ClientError, match="ClusterNotFoundException"):
        ensure(client)
