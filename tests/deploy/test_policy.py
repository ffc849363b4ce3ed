"""The Lambda policies are least privilege, proven against what the code really calls.
Each function group has its own policy (.chalice/config.json maps them): every AWS call
a group's Lambdas make on every path is allowed by its policy, every action it allows is
either called or required by AWS for a call made, no action is a wildcard, and a
resource is `*` only where AWS offers nothing narrower."""

from __future__ import annotations

from collections import Counter

import pytest

from chalicelib.core.runtime import Runtime
from daskyard.local.stack import LocalMode
from tests.support.calls import recording
from tests.support.policy import UNSCOPABLE, group_of, statements
from tests.support.scenarios import every_path

OWN_LOGS = {"logs:CreateLogGroup": "the Lambda's own log group",
            "logs:CreateLogStream": "the Lambda's own logs",
            "logs:PutLogEvents": "the Lambda's own logs"}
# Allowed but not called by name on the recorded paths: AWS checks them for a call we
# do make, or the path needs AWS itself (EC2 bridge mode, a failed CodeBuild build).
INDIRECT: dict[str, dict[str, str]] = {
    "steps": {**OWN_LOGS,
              "logs:TagResource": "CreateLogGroup with tags",
              "ecs:TagResource": "ECS create calls with tags",
              "ec2:CreateTags": "EC2 create calls with TagSpecifications",
              "elasticfilesystem:TagResource": "CreateFileSystem/CreateAccessPoint with tags",
              "secretsmanager:TagResource": "CreateSecret with tags",
              "ssm:AddTagsToResource": "PutParameter with tags",
              "ecr:TagResource": "CreateRepository with tags",
              "autoscaling:CreateOrUpdateTags": "CreateAutoScalingGroup with tags",
              "ec2:RunInstances": "CreateAutoScalingGroup with a launch template",
              "iam:PassRole": "task definitions' roles, the launch template's profile",
              "iam:CreateServiceLinkedRole": "first ECS/Auto Scaling/EFS use in an account",
              "codebuild:BatchGetBuilds": "joining a running build (tests/workflow)",
              "ecs:UpdateService": "a retried StartScheduler/StartWorkers finds its service",
              "secretsmanager:GetSecretValue": "signing a webhook callback (tests/functional)"},
    "api": {**OWN_LOGS,
            "dynamodb:DeleteItem": "powertools drops the record of a failed request"},
    "events": {**OWN_LOGS,
               "ssm:AddTagsToResource": "PutParameter with tags",
               "states:SendTaskFailure": "a failed image build (tests/workflow)",
               "ec2:DescribeInstances": "EC2 bridge-mode discovery (tests/functional)",
               "ecs:DescribeContainerInstances": "EC2 bridge-mode discovery"},
    "teardown": {**OWN_LOGS,
                 "states:StopExecution": "a nightly destroy of a cluster still CREATING",
                 "secretsmanager:GetSecretValue": "the summary webhook (tests/functional)",
                 "ecs:DescribeCapacityProviders": "a swept capacity provider",
                 "ecs:DescribeTaskDefinition": "a swept task definition"},
}
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
SCOPED_BY_TYPE = ("/aws/service/ecs/*", ":image/*", ":subnet/*", ":vpc/*", ":volume/*",
                  ":instance/*", ":network-interface/*", ":security-group/*")


def allowed(group: str) -> set[str]:
    return {a for s in statements(group) for a in s["Action"]}


def test_every_group_has_its_policy_file() -> None:
    assert set(group_of().values()) == set(INDIRECT)
    for group in INDIRECT:
        assert statements(group)


@pytest.mark.parametrize("group", sorted(INDIRECT))
def test_no_wildcard_actions_and_resources_scoped(group: str) -> None:
    for s in statements(group):
        assert s["Effect"] == "Allow" and "NotAction" not in s and "NotResource" not in s
        assert all("*" not in a for a in s["Action"]), s["Sid"]
        if "*" in s["Resource"]:
            assert set(s["Action"]) <= UNSCOPABLE, (s["Sid"], set(s["Action"]) - UNSCOPABLE)
        for arn in s["Resource"]:
            assert arn == "*" or "daskyard" in arn or "Condition" in s or arn.endswith(
                SCOPED_BY_TYPE), (s["Sid"], arn)


def test_no_role_creation_and_pass_role_only_for_our_roles() -> None:
    for group in INDIRECT:
        iam = {a for a in allowed(group) if a.startswith("iam:")}
        assert iam == ({"iam:PassRole", "iam:CreateServiceLinkedRole"} if group == "steps"
                       else set()), group
    [pass_role] = [s for s in statements("steps") if "iam:PassRole" in s["Action"]]
    assert pass_role["Resource"] == ["arn:aws:iam::*:role/daskyard-*"]
    assert set(pass_role["Condition"]["StringEquals"]["iam:PassedToService"]) == {
        "ecs-tasks.amazonaws.com", "ec2.amazonaws.com"}


@pytest.mark.e2e
def test_each_policy_allows_exactly_what_its_functions_call(rt: Runtime,
                                                            stack: LocalMode) -> None:
    app = stack.app.app
    function_of = {fn.handler_string.rsplit(".", 1)[-1]: fn.name
                   for fn in [*app.pure_lambda_functions, *app.event_sources]}
    function_of.update({route.view_name: "api_handler"
                        for methods in app.routes.values() for route in methods.values()})
    groups = group_of()
    with recording() as recorder:
        every_path(rt, stack)
    called: dict[str, Counter[str]] = {group: Counter() for group in INDIRECT}
    for handler, actions in recorder.by_handler.items():
        if handler:  # "" is test set-up calling chalicelib directly, not a Lambda
            name = function_of[handler]
            called[groups.get(name, groups["*"])].update(actions)
    for group, actions in called.items():
        made = set(actions) - NEEDS_NO_PERMISSION
        assert made, f"no call recorded for {group}"
        missing = made - allowed(group)
        assert not missing, f"{group} calls but is not allowed: {sorted(missing)}"
        unused = allowed(group) - made - set(INDIRECT[group])
        assert not unused, f"{group} is allowed but never needs: {sorted(unused)}"
        stale = (set(INDIRECT[group]) - {"logs:CreateLogGroup"}) & made
        assert not stale, f"{group}: listed as indirect but called: {sorted(stale)}"
        print(f"\n{group}: {len(made)} actions called ({sum(actions.values())} calls), "
              f"{len(allowed(group))} allowed")
