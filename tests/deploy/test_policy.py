"""The Lambda policy is least privilege, proven against what the code really calls:
every AWS call the Lambdas make on every path is allowed, every allowed action is
either called or required by AWS for a call we make, no action is a wildcard, and a
resource is `*` only where AWS offers nothing narrower."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.runtime import Runtime
from daskyard.local.calls import recording
from daskyard.local.stack import LocalMode
from tests.deploy.scenarios import every_path

POLICY = Path(__file__).resolve().parents[2] / ".chalice" / "policy-lambda.json"

# Allowed but not called by name: AWS checks them for a call we do make.
INDIRECT = {
    "logs:CreateLogGroup": "the Lambda's own log group, and the cluster's",
    "logs:CreateLogStream": "the Lambda's own logs",
    "logs:PutLogEvents": "the Lambda's own logs",
    "logs:TagResource": "CreateLogGroup with tags",
    "ecs:TagResource": "ECS create calls with tags",
    "ec2:CreateTags": "EC2 create calls with TagSpecifications",
    "elasticfilesystem:TagResource": "CreateFileSystem/CreateAccessPoint with tags",
    "secretsmanager:TagResource": "CreateSecret with tags",
    "ssm:AddTagsToResource": "PutParameter with tags",
    "ecr:TagResource": "CreateRepository with tags",
    "autoscaling:CreateOrUpdateTags": "CreateAutoScalingGroup with tags",
    "ec2:RunInstances": "CreateAutoScalingGroup with a launch template",
    "iam:PassRole": "task definitions' roles, the launch template's instance profile",
    "iam:CreateServiceLinkedRole": "first ECS cluster, Auto Scaling group, EFS in an account",
    "dynamodb:DeleteItem": "powertools idempotency drops the record of a failed request",
    "states:SendTaskFailure": "a failed image build (tests/workflow/test_image_build.py)",
    "states:StopExecution": "destroy during create (tests/workflow)",
    "codebuild:BatchGetBuilds": "joining a running build (tests/workflow/test_image_build.py)",
    "ecr:PutLifecyclePolicy": "a repository made for the first time",
    "ecs:DescribeContainerInstances": "EC2 bridge-mode discovery (tests/functional)",
    "ec2:DescribeInstances": "EC2 bridge-mode discovery (tests/functional)",
    "ecs:DescribeTaskDefinition": "the sweeper's INACTIVE check on task definitions",
}
# AWS supports no resource-level permission for these (Service Authorization Reference).
UNSCOPABLE = {
    "states:SendTaskSuccess", "states:SendTaskFailure", "tag:GetResources",
    "ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition", "ecs:ListTaskDefinitions",
    "ecs:DescribeTaskDefinition", "ecs:DescribeCapacityProviders",
    "autoscaling:DescribeAutoScalingGroups", "elasticfilesystem:DescribeFileSystems",
    "elasticfilesystem:DescribeMountTargets", "elasticfilesystem:DescribeAccessPoints",
    *(f"ec2:Describe{x}" for x in ("Vpcs", "Subnets", "SecurityGroups", "NetworkInterfaces",
                                   "LaunchTemplates", "Instances")),
}
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}


def statements() -> list[dict[str, Any]]:
    return list(json.loads(POLICY.read_text())["Statement"])


def allowed() -> set[str]:
    return {a for s in statements() for a in s["Action"]}


def test_no_wildcard_actions_and_only_allow() -> None:
    for s in statements():
        assert s["Effect"] == "Allow" and "NotAction" not in s and "NotResource" not in s
        assert all("*" not in a for a in s["Action"]), s["Sid"]


def test_wildcard_resources_only_where_aws_has_nothing_narrower() -> None:
    for s in statements():
        if "*" in s["Resource"]:
            assert set(s["Action"]) <= UNSCOPABLE, (s["Sid"], set(s["Action"]) - UNSCOPABLE)
        for arn in s["Resource"]:
            assert arn == "*" or "daskyard" in arn or "Condition" in s or arn.endswith(
                ("/aws/service/ecs/*", ":image/*", ":subnet/*", ":vpc/*", ":volume/*",
                 ":instance/*", ":network-interface/*", ":security-group/*")), (s["Sid"], arn)


def test_no_role_creation_and_pass_role_only_for_our_roles() -> None:
    iam = {a for a in allowed() if a.startswith("iam:")}
    assert iam == {"iam:PassRole", "iam:CreateServiceLinkedRole"}
    [pass_role] = [s for s in statements() if "iam:PassRole" in s["Action"]]
    assert pass_role["Resource"] == ["arn:aws:iam::*:role/daskyard-*"]
    assert set(pass_role["Condition"]["StringEquals"]["iam:PassedToService"]) == {
        "ecs-tasks.amazonaws.com", "ec2.amazonaws.com"}


@pytest.mark.e2e
def test_policy_allows_exactly_what_every_path_calls(rt: Runtime, stack: LocalMode) -> None:
    with recording() as recorder:
        every_path(rt, stack)
    called = set(recorder.calls) - NEEDS_NO_PERMISSION
    assert called, "the recorder saw the Lambdas' calls"
    missing = called - allowed()
    assert not missing, f"called but not allowed: {sorted(missing)}"
    unused = allowed() - called - set(INDIRECT)
    assert not unused, f"allowed but never needed: {sorted(unused)}"
    stale = set(INDIRECT) & called - {"logs:CreateLogGroup"}
    assert not stale, f"listed as indirect but called directly: {sorted(stale)}"
    print(f"\n{len(called)} actions called, {sum(recorder.calls.values())} calls; "
          f"{len(allowed())} allowed")
