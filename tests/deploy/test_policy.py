"""The Lambda policies are least privilege, proven against what the code really calls.
Each function group has its own policy (.chalice/config.json maps them): every AWS call
a group's Lambdas make on every path is allowed by its policy, every action it allows is
either called or required by AWS for a call made, no action is a wildcard, a resource
is `*` only where AWS offers nothing narrower, and no stage's policies (nor its roles
in the template) reach another stage's resources in the same account."""

from __future__ import annotations

import re
from collections import Counter
from fnmatch import fnmatchcase
from typing import Any

import pytest

from chalicelib.core import resources
from chalicelib.core.naming import Names
from chalicelib.core.runtime import Runtime
from chalicelib.steps.table import LAMBDAS
from daskyard.local.stack import LocalMode
from deploy.calls import recording
from deploy.scan_policies import plain
from deploy.template import merge_template
from tests.support.policy import UNSCOPABLE, group_of, stages, statements
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
              "secretsmanager:TagResource": "CreateSecret with tags",
              "ssm:AddTagsToResource": "PutParameter with tags",
              "iam:TagRole": "CreateRole with tags (each cluster's scheduler role)",
              "ecr:TagResource": "CreateRepository with tags",
              "autoscaling:CreateOrUpdateTags": "CreateAutoScalingGroup with tags",
              "ec2:RunInstances": "CreateAutoScalingGroup with a launch template",
              "iam:PassRole": "task definitions' roles, the launch template's profile",
              "iam:CreateServiceLinkedRole": "first ECS/Auto Scaling/EFS use in an account",
              "codebuild:BatchGetBuilds": "joining a running build (tests/workflow)",
              "ecs:UpdateService": "a retried StartScheduler/StartWorkers finds its service",
              "ecs:DescribeTasks": "WaitForNotebook asks ECS for the notebook's health while "
                                   "no task event has said it (events need not carry it)",
              "secretsmanager:GetSecretValue": "signing a webhook callback (tests/functional)",
              # EFS makes and changes a mount target's network interface with the
              # caller's permissions (daskyard.local.iam_requests.BEHIND authorizes them).
              "ec2:CreateNetworkInterface": "CreateMountTarget",
              "ec2:DescribeNetworkInterfaces": "CreateMountTarget",
              "ec2:DeleteNetworkInterface": "DeleteMountTarget",
              "ec2:ModifyNetworkInterfaceAttribute": "ModifyMountTargetSecurityGroups",
              "ec2:DescribeNetworkInterfaceAttribute": "DescribeMountTargetSecurityGroups"},
    "api": {**OWN_LOGS,
            "ssm:AddTagsToResource": "PutParameter with tags (adaptive bounds)",
            "dynamodb:DeleteItem": "powertools drops the record of a failed request"},
    "events": {**OWN_LOGS,
               "ssm:AddTagsToResource": "PutParameter with tags",
               "states:SendTaskFailure": "a failed image build (tests/workflow)",
               "ec2:DescribeInstances": "EC2 bridge-mode discovery (tests/functional)",
               "ecs:DescribeContainerInstances": "EC2 bridge-mode discovery"},
    "teardown": {**OWN_LOGS,
                 "states:StopExecution": "a nightly destroy of a cluster still CREATING",
                 "secretsmanager:GetSecretValue": "the summary webhook (tests/functional)",
                 "ecs:DescribeCapacityProviders": "an EC2 cluster's, swept "
                                                  "(tests/functional/test_resource_kinds.py)"},
}
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
SCOPED_BY_TYPE = ("/aws/service/ecs/*", ":image/*", ":subnet/*", ":vpc/*", ":volume/*",
                  ":instance/*", ":network-interface/*", ":security-group/*")


def service_linked_role(arn: str) -> bool:
    """One of AWS's service-linked roles, by its whole name (the doctor reads them): with
    its path, or without, as IAM names a role that does not exist (GetRole of a missing
    role is authorized against `role/<name>`: allowed, it answers NoSuchEntity)."""
    path = arn.partition(":role/")[2]
    return path.startswith(("aws-service-role/", "AWSServiceRoleFor")) and "*" not in path


def one_quota(arn: str) -> bool:
    """One account quota, by its service and code (Service Quotas reads)."""
    return bool(re.fullmatch(r"arn:aws:servicequotas:\*:\*:[a-z-]+/L-[0-9A-F]{8}", arn))


def allowed(group: str) -> set[str]:
    return {a for s in statements(group) for a in s["Action"]}


def test_every_group_has_its_policy_file() -> None:
    assert set(group_of().values()) == set(INDIRECT)
    for group in INDIRECT:
        assert statements(group)


def test_every_step_lambda_of_the_step_table_runs_with_the_steps_policy() -> None:
    """A new Lambda in chalicelib/steps/table.py gets the steps' policy (the stage's
    default), which the recorded paths below hold to what the steps call."""
    groups = group_of()
    assert {name: groups.get(name, groups["*"]) for name in LAMBDAS} == dict.fromkeys(
        LAMBDAS, "steps")


@pytest.mark.parametrize("group", sorted(INDIRECT))
def test_no_wildcard_actions_and_resources_scoped(group: str) -> None:
    for s in statements(group):
        assert s["Effect"] == "Allow" and "NotAction" not in s and "NotResource" not in s
        assert all("*" not in a for a in s["Action"]), s["Sid"]
        if "*" in s["Resource"]:
            assert set(s["Action"]) <= UNSCOPABLE, (s["Sid"], set(s["Action"]) - UNSCOPABLE)
        for arn in s["Resource"]:
            assert arn == "*" or "daskyard" in arn or "Condition" in s or arn.endswith(
                SCOPED_BY_TYPE) or service_linked_role(arn) or one_quota(arn), (s["Sid"], arn)


SCHEDULER_ROLES = ["arn:aws:iam::*:role/daskyard/dev/*"]
BOUNDARY = "arn:aws:iam::*:policy/daskyard-dev-*-scheduler-boundary"


def test_roles_made_only_for_schedulers_within_the_boundary_and_passed_only_to_tasks() -> None:
    """The steps make one role per cluster (its scheduler's), only under the stage's
    path and only with the stage's permissions boundary; the other groups read the
    account's role count only (the create's preflight, the nightly headroom), and the
    sweep lists the stage's scheduler roles and their tags."""
    reads = {"api": {"iam:GetAccountSummary"},
             "teardown": {"iam:GetAccountSummary", "iam:ListRoles", "iam:ListRoleTags"}}
    for group in INDIRECT:
        iam = {a for a in allowed(group) if a.startswith("iam:")}
        assert iam == ({"iam:PassRole", "iam:CreateServiceLinkedRole", "iam:CreateRole",
                        "iam:PutRolePolicy", "iam:TagRole", "iam:DeleteRole",
                        "iam:DeleteRolePolicy", "iam:ListRoles", "iam:GetRole",
                        "iam:GetAccountSummary"}
                       if group == "steps" else reads.get(group, set())), group
    [tags] = [s for s in statements("teardown") if "iam:ListRoleTags" in s["Action"]]
    assert tags["Resource"] == SCHEDULER_ROLES
    # The doctor reads the service-linked roles, and no other role.
    [reads] = [s for s in statements("steps") if "iam:GetRole" in s["Action"]]
    assert reads["Action"] == ["iam:GetRole"]
    assert all(service_linked_role(arn) for arn in reads["Resource"])
    by_action: dict[str, list[dict[str, Any]]] = {}
    for s in statements("steps"):
        for action in s["Action"]:
            by_action.setdefault(action, []).append(s)
    for action in ("iam:CreateRole", "iam:PutRolePolicy"):
        [s] = by_action[action]
        assert s["Resource"] == SCHEDULER_ROLES
        assert s["Condition"] == {"ArnLike": {"iam:PermissionsBoundary": BOUNDARY}}
    for action in ("iam:TagRole", "iam:DeleteRole", "iam:DeleteRolePolicy"):
        [s] = by_action[action]
        assert s["Resource"] == SCHEDULER_ROLES
    # Nothing may change or drop a boundary, or attach a managed policy.
    assert not {"iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
                "iam:AttachRolePolicy", "iam:CreatePolicyVersion"} & set(by_action)
    passes = {tuple(s["Resource"]): set(s["Condition"]["StringEquals"]["iam:PassedToService"]
                                        if isinstance(s["Condition"]["StringEquals"][
                                            "iam:PassedToService"], list)
                                        else [s["Condition"]["StringEquals"][
                                            "iam:PassedToService"]])
              for s in by_action["iam:PassRole"]}
    assert passes == {("arn:aws:iam::*:role/daskyard-dev-*",): {"ecs-tasks.amazonaws.com",
                                                                "ec2.amazonaws.com"},
                      tuple(SCHEDULER_ROLES): {"ecs-tasks.amazonaws.com"}}


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


def other_stages(stage: str) -> list[str]:
    """Every other configured stage, local mode's, and one whose name starts with ours
    (a prefix `daskyard-dev*` without its hyphen would reach `daskyard-devx-...`)."""
    return sorted({*stages(), "local", f"{stage}x"} - {stage})


def stage_arns(stage: str) -> dict[str, str]:
    """ARNs of what a stage has, for a cluster named as one of every other stage's: the
    stage's own, and those of each resource kind named for its cluster (a kind known by
    an id AWS gives is told apart by its tags, not its ARN)."""
    n, where = Names(stage, "demo"), "us-east-1:123456789012"
    kinds = {kind.name: kind.arn(n, "us-east-1", "123456789012", kind.derived(n, "us-east-1"))
             for kind in resources.KINDS if kind.derived}
    return {**kinds,
        "Lambda log group": f"arn:aws:logs:{where}:log-group:/aws/lambda/daskyard-{stage}-"
                            "api_handler:log-stream:1",
        "table": f"arn:aws:dynamodb:{where}:table/daskyard-{stage}-clusters",
        "state machine": f"arn:aws:states:{where}:stateMachine:daskyard-{stage}-destroy-cluster",
        "execution": f"arn:aws:states:{where}:execution:daskyard-{stage}-destroy-cluster:"
                     "demo-destroy-1",
        "credentials secret": f"arn:aws:secretsmanager:{where}:secret:"
                              f"{n.credentials_secret()}-AbCdEf",
        "signing secret": f"arn:aws:secretsmanager:{where}:secret:daskyard/{stage}/"
                          "slack-signing-secret-AbCdEf",
        "ECS cluster": f"arn:aws:ecs:{where}:cluster/{n.base()}",
        "ECS service": f"arn:aws:ecs:{where}:service/{n.base()}/{n.service('worker')}",
        "capacity provider": f"arn:aws:ecs:{where}:capacity-provider/{n.base()}",
        "task definition": f"arn:aws:ecs:{where}:task-definition/{n.task_family('worker')}:1",
        "container instance": f"arn:aws:ecs:{where}:container-instance/{n.base()}/1a2b",
        "address parameter": f"arn:aws:ssm:{where}:parameter{n.scheduler_parameter()}",
        "SSH key parameter": f"arn:aws:ssm:{where}:parameter{n.private_key_parameter()}",
        "cluster log stream": f"arn:aws:logs:{where}:log-group:{n.log_group()}:log-stream:w/1",
        "cluster log group": f"arn:aws:logs:{where}:log-group:{n.log_group()}",
        "image build": f"arn:aws:codebuild:{where}:project/daskyard-{stage}-images",
        "key pair": f"arn:aws:ec2:{where}:key-pair/{n.base()}",
        "auto scaling group": f"arn:aws:autoscaling:{where}:autoScalingGroup:1-2-3:"
                              f"autoScalingGroupName/{n.base()}",
        "role": f"arn:aws:iam::123456789012:role/daskyard-{stage}-us-east-1-task",
        "scheduler role": f"arn:aws:iam::123456789012:role{n.role_path()}"
                          f"{n.scheduler_role('us-east-1')}",
        "adapt parameter": f"arn:aws:ssm:{where}:parameter{n.adapt_parameter()}",
    }


def stage_tag_required(statement: dict[str, Any], stage: str) -> bool:
    """The statement applies only to what is tagged (or being tagged) with `stage`."""
    condition = statement.get("Condition", {}).get("StringEquals", {})
    return stage in (condition.get("aws:ResourceTag/daskyard:stage"),
                     condition.get("aws:RequestTag/daskyard:stage"))


def reachable(statement: dict[str, Any], stage: str) -> list[str]:
    """What of the other stages' resources `statement` (of `stage`) allows an action on.
    IAM's `*` in a resource matches any run of characters, `/` and `:` included."""
    if statement["Resource"] in ("*", ["*"]) or stage_tag_required(statement, stage):
        return []  # `*`: unscopable actions only (tested above); tags: the stage's only
    resources = statement["Resource"]
    resources = [resources] if isinstance(resources, str) else resources
    return [f"{what} of {other}: {arn}" for other in other_stages(stage)
            for what, arn in stage_arns(other).items()
            if any(fnmatchcase(arn, pattern) for pattern in resources)]


@pytest.mark.parametrize("stage", stages())
@pytest.mark.parametrize("group", sorted(INDIRECT))
def test_no_function_policy_reaches_another_stages_resources(group: str, stage: str) -> None:
    for s in statements(group, stage):
        assert not reachable(s, stage), (stage, group, s["Sid"], reachable(s, stage))
        # Resources known by id (security groups, file systems, launch templates) are told
        # apart by tags: a statement scoped by the managed tag checks the stage tag too.
        condition = s.get("Condition", {}).get("StringEquals", {})
        for kind in ("Request", "Resource"):
            if f"aws:{kind}Tag/daskyard:managed" in condition:
                assert condition.get(f"aws:{kind}Tag/daskyard:stage") == stage, s["Sid"]


def test_the_stages_own_resources_are_within_its_policies() -> None:
    """The check above can fail: each stage's own ARNs are reached by its statements."""
    for stage in stages():
        patterns = [p for group in INDIRECT for s in statements(group, stage)
                    if s["Resource"] not in ("*", ["*"]) for p in s["Resource"]]
        unreached = [what for what, arn in stage_arns(stage).items()
                     if not any(fnmatchcase(arn, p) for p in patterns)]
        assert not unreached, (stage, unreached)


@pytest.mark.parametrize("stage", stages())
def test_no_template_role_reaches_another_stages_resources(stage: str) -> None:
    resources = merge_template(stage)["Resources"]
    for logical, resource in resources.items():
        props = resource["Properties"]
        documents = ([p["PolicyDocument"] for p in props["Policies"]]
                     if resource["Type"] == "AWS::IAM::Role" else [props["PolicyDocument"]]
                     if resource["Type"] == "AWS::IAM::ManagedPolicy" else [])
        for document in documents:
            for s in plain(document, resources)["Statement"]:
                assert not reachable(s, stage), (stage, logical, reachable(s, stage))
