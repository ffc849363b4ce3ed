"""`daskyard doctor` and `GET /doctor` against local mode: every check printed, each
made to fail once with its advice shown, admins only."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.quotas import EFS_FILE_SYSTEMS, FARGATE_ON_DEMAND, FARGATE_SPOT, IAM_ROLES
from chalicelib.core.runtime import Runtime
from chalicelib.doctor import SECURITY_GROUPS
from daskyard.cli import app
from daskyard.local import quotas
from daskyard.local.stack import LocalMode
from tests.support.signed import SignedHttp

CHECKS = ["ecs-service-linked-role", "autoscaling-service-linked-role",
          "fargate-on-demand-quota", "fargate-spot-quota", "efs-file-systems", "iam-roles",
          "security-groups", "network", "images", "slack-secret", "webhook-secret"]
# Quotas moto's Service Quotas has no value for: local mode answers AWS's default.
DEFAULTED = ["fargate-on-demand-quota", "fargate-spot-quota", "efs-file-systems"]


@pytest.fixture
def api(stack: LocalMode) -> Iterator[str]:
    yield stack.api_url or stack.serve_api()


def doctor(api: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["doctor", "--api", api, *args])
    return result.exit_code, result.stdout


def lines(out: str) -> dict[str, str]:
    """Check name -> its printed line."""
    return {line.split()[1]: line for line in out.splitlines()
            if line.split() and line.split()[0] in ("OK", "WARN", "FAIL")}


def test_every_check_is_printed_and_which_took_aws_defaults(api: str) -> None:
    code, out = doctor(api)
    assert code == 0, out
    printed = lines(out)
    assert list(printed) == CHECKS
    # A fresh local stage: nothing fails; the Slack secret is still the generated one.
    # The default VPC's subnets reach AWS through its internet gateway with a public IP,
    # a Fargate task's or an EC2 cluster's instance's (its tasks run in bridge mode).
    assert {name: line.split()[0] for name, line in printed.items()} == {
        **dict.fromkeys(CHECKS, "OK"), "slack-secret": "WARN",
        # AWS's default Fargate quota (6 vCPU) is below local mode's 16 workers, but it
        # is not the account's own value: a warning, not a failure.
        "fargate-on-demand-quota": "WARN", "fargate-spot-quota": "WARN"}
    assert "put-secret-value" in printed["slack-secret"]
    assert "internet gateway, public IP" in printed["network"]
    assert f"documented default quota (the account's applied value was not available): " \
           f"{', '.join(DEFAULTED)}" in " ".join(out.split())
    code, out = doctor(api, "-o", "json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["stage"] == "local"
    assert [c["name"] for c in report["checks"]] == CHECKS
    assert [c["name"] for c in report["checks"] if c["default"]] == DEFAULTED
    assert all(c["figure"] for c in report["checks"])


def _fs(clients: Clients) -> None:
    clients.efs.create_file_system(CreationToken="other")
    quotas.apply(*EFS_FILE_SYSTEMS, 1)


def _roles(clients: Clients) -> None:
    """IAM's own quota, as an approved request would set it (IAM's account summary
    answers it as RolesQuota)."""
    used = clients.iam.get_account_summary()["SummaryMap"]["Roles"]
    quotas.apply(*IAM_ROLES, used)


def _groups(clients: Clients) -> None:
    used = len(clients.ec2.describe_security_groups()["SecurityGroups"])
    quotas.apply(*SECURITY_GROUPS, used)


def _no_route(clients: Clients) -> None:
    for table in clients.ec2.describe_route_tables()["RouteTables"]:
        for route in table["Routes"]:
            if route.get("DestinationCidrBlock") == "0.0.0.0/0":
                clients.ec2.delete_route(RouteTableId=table["RouteTableId"],
                                         DestinationCidrBlock="0.0.0.0/0")


def _no_image(clients: Clients, rt: Runtime) -> None:
    clients.ecr.batch_delete_image(
        repositoryName=naming.repository(rt.settings.ecr_prefix, "worker"),
        imageIds=[{"imageTag": rt.settings.image_tag}])


Break = Callable[[Clients, Runtime, pytest.MonkeyPatch], Any]
# check -> (what breaks it, its status then, words of its advice)
BROKEN: dict[str, tuple[Break, str, str]] = {
    "ecs-service-linked-role": (
        lambda c, rt, mp: c.iam.delete_role(RoleName="AWSServiceRoleForECS"), "WARN",
        "aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com"),
    "autoscaling-service-linked-role": (
        lambda c, rt, mp: c.iam.delete_role(RoleName="AWSServiceRoleForAutoScaling"), "WARN",
        "--aws-service-name autoscaling.amazonaws.com"),
    "fargate-on-demand-quota": (
        lambda c, rt, mp: quotas.apply(*FARGATE_ON_DEMAND, 4), "FAIL",
        "request at least 18 vCPU for Service Quotas fargate L-3032A538"),
    "fargate-spot-quota": (
        lambda c, rt, mp: quotas.apply(*FARGATE_SPOT, 4), "FAIL",
        "request at least 16 vCPU for Service Quotas fargate L-36FBB829"),
    "efs-file-systems": (lambda c, rt, mp: _fs(c), "FAIL",
                         "delete unused file systems or request more"),
    "iam-roles": (lambda c, rt, mp: _roles(c), "FAIL", "delete unused roles or request more"),
    "security-groups": (lambda c, rt, mp: _groups(c), "FAIL",
                        "delete unused groups or request more"),
    "network": (lambda c, rt, mp: _no_route(c), "FAIL",
                "a NAT gateway route (0.0.0.0/0 -> nat-...)"),
    "images": (lambda c, rt, mp: _no_image(c, rt), "WARN",
               "the first cluster builds them with CodeBuild"),
    "slack-secret": (
        lambda c, rt, mp: c.secrets.delete_secret(SecretId=rt.settings.slack_secret_id,
                                              ForceDeleteWithoutRecovery=True),
        "FAIL", "deploy the stack again (make deploy) to make it"),
    "webhook-secret": (
        lambda c, rt, mp: c.secrets.delete_secret(SecretId=rt.settings.webhook_secret_id),
        "FAIL", "aws secretsmanager restore-secret --secret-id daskyard/local/webhook-secret"),
}


@pytest.mark.parametrize("check", CHECKS)
def test_each_check_fails_with_its_advice(check: str, api: str, clients: Clients,
                                          rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    breaks, status, advice = BROKEN[check]
    breaks(clients, rt, monkeypatch)
    code, out = doctor(api)
    printed = lines(out)
    assert list(printed) == CHECKS  # the others still run
    line = " ".join(printed[check].split())
    assert line.startswith(f"{status} {check} ") and advice in line, line
    assert code == (1 if status == "FAIL" else 0)
    others = {name for name, text in printed.items() if text.startswith("FAIL")} - {check}
    assert not others, out


def test_images_fail_without_a_build_project(api: str, clients: Clients, rt: Runtime,
                                             stage_config: Any) -> None:
    _no_image(clients, rt)
    stage_config(image_build_project="")
    code, out = doctor(api)
    assert code == 1
    assert "no image build project is set" in " ".join(lines(out)["images"].split())


def test_a_check_whose_call_fails_fails_and_the_others_run(api: str,
                                                           stage_config: Any) -> None:
    stage_config(subnet_ids="subnet-0000000000000dead")
    code, out = doctor(api)
    printed = lines(out)
    assert code == 1 and list(printed) == CHECKS
    line = " ".join(printed["network"].split())
    assert line.startswith("FAIL network AWS error InvalidSubnetID.NotFound"), line
    assert "the stage's settings (DASKYARD_* in .chalice/config.json)" in line


def test_a_set_slack_secret_is_ok(api: str, clients: Clients, rt: Runtime) -> None:
    clients.secrets.put_secret_value(SecretId=rt.settings.slack_secret_id,
                                     SecretString="from-slack")
    assert lines(doctor(api)[1])["slack-secret"].startswith("OK")


def test_admins_only(http: SignedHttp) -> None:
    assert http.get("/doctor").status_code == 200
    answer = http.as_user("alice").get("/doctor")
    assert answer.status_code == 403 and "admins" in json.loads(answer.body)["error"]
