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
    for s in statements(role):
        if action not in s["Action"]:
            continue
        for arn in s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]:
            text = arn["Fn::Sub"] if isinstance(arn, dict) else arn
            text = (text.replace("${AWS::Partition}", "aws")
                    .replace("${AWS::Region}", "us-east-1")
                    .replace("${AWS::AccountId}", "123456789012"))
            if re.fullmatch(".*".join(map(re.escape, text.split("*"))), resource):
                return True
    return False


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
