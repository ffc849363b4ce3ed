"""The scheduler changes its worker count and nothing else (issue 26): its role, checked
by local mode's IAM evaluator, may not change its workers service at all (no count past
the bounds, no task definition, network, exec setting or capacity provider); it asks for
a count in its own parameter, and the orchestrator applies it within the cluster's
adaptive bounds."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import lifecycle
from chalicelib.core.aws import Clients
from chalicelib.core.models import Adapt
from chalicelib.core.naming import Names
from chalicelib.core.runtime import Runtime
from daskyard.local.stack import LocalMode
from tests.support.callers import ALICE
from tests.support.clusters import create
from tests.support.waiting import eventually


def scheduler_clients(rt: Runtime, stack: LocalMode) -> Clients:
    """Clients signing as the cluster's scheduler task does: its own role's session."""
    assert stack.iam is not None, "local mode runs without IAM (npm install)"
    role = rt.registry.require("demo").resources.scheduler_role
    assert role, "the create made no scheduler role"
    return Clients(endpoint_url=stack.emulator.url,
                   credentials=stack.iam.assume(role, "scheduler"))


def desired(rt: Runtime, stack: LocalMode) -> int:
    assert stack.clients is not None
    names = rt.names("demo")
    return int(stack.clients.ecs.describe_services(
        cluster=names.base(), services=[names.service("worker")])["services"][0]["desiredCount"])


def test_the_scheduler_role_cannot_change_its_workers_service(rt: Runtime,
                                                             stack: LocalMode) -> None:
    assert create(rt, stack, workers=1)["status"] == "SUCCEEDED"
    names, scheduler = rt.names("demo"), scheduler_clients(rt, stack)
    found = scheduler.ecs.describe_services(cluster=names.base(),
                                            services=[names.service("worker")])
    service = found["services"][0]  # reading its own workers service is allowed
    other = service["taskDefinition"].replace("-worker:", "-scheduler:")
    abuses: dict[str, dict[str, Any]] = {
        "a count past every quota": {"desiredCount": 5000},
        "another task definition": {"taskDefinition": other},
        "another network": {"networkConfiguration": {"awsvpcConfiguration": {
            "subnets": ["subnet-0"], "securityGroups": ["sg-0"]}}},
        "ECS Exec": {"enableExecuteCommand": True},
        "another capacity provider": {"capacityProviderStrategy": [
            {"capacityProvider": "FARGATE", "weight": 1}]},
    }
    for what, change in abuses.items():
        with pytest.raises(ClientError) as refused:
            scheduler.ecs.update_service(cluster=names.base(),
                                         service=names.service("worker"), **change)
        error = refused.value.response["Error"]
        assert error["Code"] == "AccessDeniedException", what
        assert "ecs:UpdateService" in error["Message"], what
    # Nor may it ask for another cluster's workers.
    with pytest.raises(ClientError) as refused:
        scheduler.ssm.put_parameter(Name=Names(names.stage, "other").desired_workers_parameter(),
                                    Value="3", Type="String", Overwrite=True)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert desired(rt, stack) == 1


def test_a_count_the_scheduler_asks_for_is_applied_within_the_bounds(rt: Runtime,
                                                                     stack: LocalMode) -> None:
    assert create(rt, stack, workers=1)["status"] == "SUCCEEDED"
    names, scheduler = rt.names("demo"), scheduler_clients(rt, stack)

    def ask(count: str) -> None:
        scheduler.ssm.put_parameter(Name=names.desired_workers_parameter(), Value=count,
                                    Type="String", Overwrite=True)

    ask("4")  # adaptive scaling off: the request changes nothing
    assert desired(rt, stack) == 1
    lifecycle.adapt_cluster(rt, "demo", Adapt(minimum=1, maximum=3), caller=ALICE)
    ask("5000")
    eventually(lambda: desired(rt, stack) == 3, 10, what="clamped to the maximum")
    ask("2")
    eventually(lambda: desired(rt, stack) == 2, 10, what="the count asked for")
    ask("0")
    eventually(lambda: desired(rt, stack) == 1, 10, what="raised to the minimum")
    ask("-1")  # not a count: refused, nothing changes
    ask("2")
    eventually(lambda: desired(rt, stack) == 2, 10, what="a later request still applies")
