"""What code in a cluster's task may call (the task role) and what ECS may fetch for it
(the task execution role), as the template makes them: tasks read no secret themselves,
and of SSM only scheduler addresses, never an EC2 cluster's SSH private key."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chalicelib.core.naming import Names
from deploy.template import merge_template


def statements(role: str) -> list[dict[str, Any]]:
    props = merge_template("ci")["Resources"][role]["Properties"]
    [policy] = props["Policies"]
    return list(policy["PolicyDocument"]["Statement"])


def grants(role: str, action: str, resource: str) -> bool:
    """Whether an Allow of `role` covers `action` on `resource` (IAM's `*` matches any
    characters, `/` included; ${AWS::...} stand for this account and region)."""
    return covered(statements(role), action, resource)


SSM = "arn:aws:ssm:us-east-1:123456789012:parameter"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret"


def test_the_task_role_has_no_secrets_manager_access_at_all() -> None:
    assert not [a for s in statements("TaskRole") for a in s["Action"]
                if a.startswith("secretsmanager:")]


@pytest.mark.parametrize(("parameter", "readable"), [
    (Names("ci", "demo").scheduler_parameter(), True),
    (Names("ci", "demo").private_key_parameter(), False),
    (Names("ci", "other").private_key_parameter(), False),
    (Names("prod", "demo").scheduler_parameter(), False),  # another stage's
    ("/elsewhere/demo/scheduler-address", False),
])
def test_the_task_role_reads_scheduler_addresses_only(parameter: str, readable: bool) -> None:
    assert grants("TaskRole", "ssm:GetParameter", SSM + parameter) is readable


def test_the_execution_role_reads_daskyard_secrets_only() -> None:
    assert grants("TaskExecutionRole", "secretsmanager:GetSecretValue",
                  f"{SECRET}:{Names('ci', 'demo').credentials_secret()}-AbCdEf")
    assert not grants("TaskExecutionRole", "secretsmanager:GetSecretValue",
                      f"{SECRET}:prod/database-AbCdEf")


def boundary_statements() -> list[dict[str, Any]]:
    resource = merge_template("ci")["Resources"]["SchedulerRoleBoundary"]
    return list(resource["Properties"]["PolicyDocument"]["Statement"])


def covered(statements_: list[dict[str, Any]], action: str, resource: str) -> bool:
    """Whether an Allow of `statements_` covers `action` on `resource` (as `grants`)."""
    for s in statements_:
        if action not in s["Action"]:
            continue
        arns = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        for arn in arns:
            text = arn["Fn::Sub"] if isinstance(arn, dict) else arn
            text = (text.replace("${AWS::Partition}", "aws")
                    .replace("${AWS::Region}", "us-east-1")
                    .replace("${AWS::AccountId}", "123456789012"))
            if re.fullmatch(".*".join(map(re.escape, text.split("*"))), resource):
                return True
    return False


ECS = "arn:aws:ecs:us-east-1:123456789012:service"


@pytest.mark.parametrize(("action", "resource", "allowed"), [
    # The scheduler asks for a count; it never changes a service (chalicelib.worker_requests).
    ("ecs:UpdateService", f"{ECS}/daskyard-ci-demo/daskyard-ci-demo-workers", False),
    ("ecs:DescribeServices", f"{ECS}/daskyard-ci-demo/daskyard-ci-demo-workers", True),
    ("ecs:UpdateService", f"{ECS}/daskyard-ci-demo/daskyard-ci-demo-scheduler", False),
    ("ssm:PutParameter", SSM + Names("ci", "demo").desired_workers_parameter(), True),
    ("ecs:UpdateService", f"{ECS}/daskyard-prod-demo/daskyard-prod-demo-workers", False),
    ("ecs:DeleteService", f"{ECS}/daskyard-ci-demo/daskyard-ci-demo-workers", False),
    ("ssm:GetParameter", SSM + Names("ci", "demo").adapt_parameter(), True),
    ("ssm:GetParameter", SSM + Names("ci", "demo").private_key_parameter(), False),
    ("ssm:PutParameter", SSM + Names("ci", "demo").adapt_parameter(), False),
])
def test_the_scheduler_boundary_allows_asking_for_workers_and_reading_bounds_only(
        action: str, resource: str, allowed: bool) -> None:
    assert covered(boundary_statements(), action, resource) is allowed
    assert not [a for s in boundary_statements() for a in s["Action"]
                if a.startswith(("iam:", "secretsmanager:", "sts:"))]


def test_a_scheduler_role_reaches_its_own_cluster_only_and_stays_within_the_boundary() -> None:
    from chalicelib.steps.scheduler_task import policy

    boundary = "arn:aws:iam::123456789012:policy/daskyard-ci-us-east-1-scheduler-boundary"
    own = policy(boundary, "us-east-1", Names("ci", "demo"))["Statement"]
    names, other = Names("ci", "demo"), Names("ci", "other")
    assert covered(own, "ssm:PutParameter", SSM + names.desired_workers_parameter())
    assert not covered(own, "ssm:PutParameter", SSM + other.desired_workers_parameter())
    assert not covered(own, "ecs:UpdateService",
                       f"{ECS}/{names.base()}/{names.service('worker')}")
    assert covered(own, "ecs:DescribeServices",
                   f"{ECS}/{names.base()}/{names.service('worker')}")
    assert covered(own, "ssm:GetParameter", SSM + names.adapt_parameter())
    assert not covered(own, "ssm:GetParameter", SSM + other.adapt_parameter())
    for s in own:  # whatever the role's policy says, the boundary must allow it too
        for action in s["Action"]:
            resource = s["Resource"].replace("file-system/*", "file-system/fs-1")
            assert covered(boundary_statements(), action, resource), (action, resource)
