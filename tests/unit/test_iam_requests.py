"""What local IAM authorizes for a call, and botocore's documented extra permissions:
every operation the Lambdas call whose AWS documentation says it "also requires"
permissions is authorized for them too, or skipped here with the reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from daskyard.local.iam_requests import (
    DOCUMENTED_BEHIND,
    IAM_DATA,
    Call,
    NoState,
    requests_for,
)

pytestmark = pytest.mark.skipif(not IAM_DATA.is_dir(), reason="npm install: iam-data")
CHALICELIB = Path(__file__).resolve().parents[2] / "chalicelib"
# botocore service -> IAM prefix, for the services the Lambdas call.
SERVICES = {"efs": "elasticfilesystem", "ec2": "ec2", "ecs": "ecs", "ecr": "ecr",
            "ssm": "ssm", "secretsmanager": "secretsmanager", "dynamodb": "dynamodb",
            "stepfunctions": "states", "codebuild": "codebuild", "autoscaling": "autoscaling",
            "logs": "logs", "events": "events", "iam": "iam", "sts": "sts",
            "resourcegroupstaggingapi": "tag", "lambda": "lambda"}
# Documented extras not authorized by local IAM, each with its reason.
SKIPPED: dict[str, str] = {
    "lambda:Invoke": "names only lambda:InvokeFunction, the call's own action",
}
_NAMED = re.compile(r"\b([a-z0-9-]+:[A-Z][A-Za-z]+)\b")


def documented_extras() -> dict[str, set[str]]:
    """prefix:Operation -> the other actions its botocore documentation says it needs."""
    session = botocore.session.get_session()
    out: dict[str, set[str]] = {}
    for service, prefix in SERVICES.items():
        model = session.get_service_model(service)
        for operation in model.operation_names:
            text = re.sub(r"<[^>]+>", " ", model.operation_model(operation).documentation or "")
            if not re.search(r"requires? (the )?permissions? (for|to)|also requires", text, re.I):
                continue
            named = set(_NAMED.findall(text)) - {f"{prefix}:{operation}"}
            if named:
                out[f"{prefix}:{operation}"] = named
    return out


def called_operations() -> set[str]:
    """prefix:Operation of every client method chalicelib calls (by its Python name)."""
    source = "\n".join(p.read_text() for p in CHALICELIB.rglob("*.py"))
    session = botocore.session.get_session()
    found = set()
    for service, prefix in SERVICES.items():
        model = session.get_service_model(service)
        for operation in model.operation_names:
            name = botocore.xform_name(operation)
            if re.search(rf"\.{name}\(", source) or re.search(rf"paginator\(\"{name}\"\)",
                                                             source):
                found.add(f"{prefix}:{operation}")
    return found


def test_the_scan_finds_the_calls_it_should() -> None:
    """The two lists below can fail: they see the calls the create path makes."""
    called = called_operations()
    assert {"elasticfilesystem:CreateMountTarget", "ecs:CreateService",
            "iam:CreateRole"} <= called
    assert "elasticfilesystem:CreateMountTarget" in documented_extras()


def test_every_documented_extra_permission_of_a_called_operation_is_authorized() -> None:
    extras = documented_extras()
    missing = {}
    for operation in sorted(called_operations() & set(extras)):
        if operation in SKIPPED:
            continue
        unlisted = extras[operation] - DOCUMENTED_BEHIND.get(operation, set())
        if unlisted:
            missing[operation] = sorted(unlisted)
    assert not missing, f"documented extra permissions neither authorized nor skipped: {missing}"


def test_skips_are_not_stale() -> None:
    extras = documented_extras()
    assert set(SKIPPED) <= set(extras) | {"lambda:Invoke"}


class FakeState(NoState):
    def __init__(self, tags: dict[str, dict[str, str]] | None = None) -> None:
        self._tags = tags or {}

    def tags(self, arn: str) -> dict[str, str]:
        return self._tags.get(arn, {})

    def mount_target_file_system(self, mount_target: str) -> str | None:
        return "fs-1" if mount_target == "fsmt-1" else None


def call(prefix: str, operation: str, **params: Any) -> Call:
    return Call(prefix, operation, params, "us-east-1", "123456789012")


@pytest.mark.parametrize("operation", sorted(DOCUMENTED_BEHIND))
def test_what_local_iam_authorizes_behind_each_documented_operation(operation: str) -> None:
    prefix, name = operation.split(":")
    params = {"FileSystemId": "fs-1", "SubnetId": "subnet-1", "SecurityGroups": ["sg-1"],
              "MountTargetId": "fsmt-1", "Tags": [{"Key": "daskyard:stage", "Value": "dev"}]}
    asked = {r.action for r in requests_for(call(prefix, name, **params), FakeState())}
    assert DOCUMENTED_BEHIND[operation] <= asked, (operation, asked)


def test_a_mount_target_asks_for_its_network_interface_in_the_groups_and_subnet_named() -> None:
    sg = "arn:aws:ec2:us-east-1:123456789012:security-group/sg-1"
    requests = requests_for(call("elasticfilesystem", "CreateMountTarget", FileSystemId="fs-1",
                                 SubnetId="subnet-1", SecurityGroups=["sg-1"]),
                            FakeState({sg: {"daskyard:stage": "dev"}}))
    eni = {r.resource: r for r in requests if r.action == "ec2:CreateNetworkInterface"}
    assert set(eni) == {"arn:aws:ec2:us-east-1:123456789012:network-interface/eni-new",
                        "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1", sg}
    assert eni[sg].context["aws:ResourceTag/daskyard:stage"] == "dev"
    assert all(r.because == "elasticfilesystem:CreateMountTarget" for r in eni.values())


def test_tag_on_create_asks_for_the_tagging_action_with_the_create_action() -> None:
    requests = requests_for(call("elasticfilesystem", "CreateAccessPoint", FileSystemId="fs-1",
                                 Tags=[{"Key": "daskyard:stage", "Value": "dev"}]),
                            FakeState())
    tagging = [r for r in requests if r.action == "elasticfilesystem:TagResource"]
    assert [r.resource for r in tagging] == [
        "arn:aws:elasticfilesystem:us-east-1:123456789012:access-point/fsap-new"]
    assert tagging[0].context["elasticfilesystem:CreateAction"] == "CreateAccessPoint"
    assert tagging[0].context["aws:RequestTag/daskyard:stage"] == "dev"


def test_a_task_definitions_roles_are_passed_to_ecs_tasks() -> None:
    role = "arn:aws:iam::123456789012:role/daskyard-dev-task"
    requests = requests_for(call("ecs", "RegisterTaskDefinition", family="daskyard-dev-a-worker",
                                 taskRoleArn=role, executionRoleArn=role + "-execution"),
                            FakeState())
    passed = {r.resource: r.context for r in requests if r.action == "iam:PassRole"}
    assert passed == {role: {"iam:PassedToService": "ecs-tasks.amazonaws.com"},
                      role + "-execution": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_a_transaction_is_authorized_as_each_of_its_items_action_on_its_table() -> None:
    """There is no dynamodb:TransactWriteItems action: IAM asks for each item's own."""
    table = "daskyard-dev-clusters"
    requests = requests_for(call("dynamodb", "TransactWriteItems", TransactItems=[
        {"Put": {"TableName": table, "Item": {}}},
        {"Update": {"TableName": table, "Key": {}, "UpdateExpression": "ADD n :one"}}]),
        FakeState())
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}"
    assert [(r.action, r.resource) for r in requests] == [("dynamodb:PutItem", arn),
                                                          ("dynamodb:UpdateItem", arn)]

