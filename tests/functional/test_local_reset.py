"""LocalMode.reset, run between tests: whatever an earlier test made, the next one
finds a clean world with the app deployed."""

from __future__ import annotations

import json
import logging

import pytest

from chalicelib import lifecycle
from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.launch_types import ECS_AMI_PARAMETER
from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime, runtime
from daskyard.local.stack import LocalMode, wait_execution
from tests.support.callers import ALICE
from tests.support.clusters import spec


def executions(clients: Clients, rt: Runtime) -> list[str]:
    return [e["executionArn"] for arn in (rt.settings.create_state_machine_arn,
                                          rt.settings.destroy_state_machine_arn)
            for e in clients.sfn.list_executions(stateMachineArn=arn)["executions"]]


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_reset_leaves_nothing_of_an_earlier_test(stack: LocalMode, rt: Runtime,
                                                   clients: Clients) -> None:
    made = lifecycle.create_cluster(rt, spec("before"), caller=ALICE)
    assert wait_execution(clients, made.execution_arn)["status"] == "SUCCEEDED"
    assert stack.agent is not None and stack.agent.running()
    clients.ssm.put_parameter(Name="/daskyard/stray/x", Value="1", Type="String")
    clients.secrets.create_secret(Name="daskyard/stray", SecretString="x")
    slack_key = clients.secrets.get_secret_value(SecretId=rt.settings.slack_secret_id)
    repo = naming.repository(rt.settings.ecr_prefix, "worker")
    clients.ecr.batch_delete_image(repositoryName=repo,
                                   imageIds=[{"imageTag": rt.settings.image_tag}])
    # A second create waits on the image build (a task token) when the reset comes.
    waiting = lifecycle.create_cluster(rt, spec("waiting"), caller=ALICE)
    assert clients.sfn.describe_execution(
        executionArn=waiting.execution_arn)["status"] == "RUNNING"

    warnings = Warnings()
    logging.getLogger("daskyard.local").addHandler(warnings)
    try:
        stack.reset()
    finally:
        logging.getLogger("daskyard.local").removeHandler(warnings)
    rt = runtime()

    # Every execution ended before it was forgotten, the waiting one included.
    assert warnings.messages == []
    assert rt.registry.list() == []
    assert executions(clients, rt) == []
    assert clients.ecs.list_clusters()["clusterArns"] == []
    assert stack.agent is not None and stack.agent.running() == []
    assert [g["GroupName"] for g in clients.ec2.describe_security_groups()[
        "SecurityGroups"]] == ["default"]
    assert [v["IsDefault"] for v in clients.ec2.describe_vpcs()["Vpcs"]] == [True]
    assert clients.efs.describe_file_systems()["FileSystems"] == []
    assert clients.ssm.describe_parameters()["Parameters"] == []
    assert clients.logs.describe_log_groups(logGroupNamePrefix="/daskyard")["logGroups"] == []
    assert clients.codebuild.list_builds()["ids"] == []
    assert sorted(s["Name"] for s in clients.secrets.list_secrets()["SecretList"]) == sorted(
        [rt.settings.slack_secret_id, rt.settings.webhook_secret_id])
    assert clients.secrets.get_secret_value(SecretId=rt.settings.slack_secret_id)[
        "SecretString"] != slack_key["SecretString"]
    for role in naming.ROLES:
        tags = clients.ecr.list_images(repositoryName=naming.repository(
            rt.settings.ecr_prefix, role))["imageIds"]
        assert [t["imageTag"] for t in tags] == [rt.settings.image_tag], role
    # The deployment still works, from a clean name.
    again = lifecycle.create_cluster(rt, spec("before"), caller=ALICE)
    assert wait_execution(clients, again.execution_arn)["status"] == "SUCCEEDED"
    assert rt.registry.require("before").status == Status.READY


def test_a_change_to_what_only_the_deployment_makes_redeploys_everything(
        stack: LocalMode, clients: Clients) -> None:
    deployed = sorted(r["Name"] for r in clients.events.list_rules()["Rules"])
    clients.events.put_rule(Name="stray", EventPattern=json.dumps({"source": ["stray"]}))
    stack.reset()
    assert sorted(r["Name"] for r in clients.events.list_rules()["Rules"]) == deployed
    rt = runtime()
    made = lifecycle.create_cluster(rt, spec("after"), caller=ALICE)
    assert wait_execution(clients, made.execution_arn)["status"] == "SUCCEEDED"


@pytest.mark.reads_only
def test_ec2_describes_the_ecs_optimized_amis_parameter_store_recommends(
        clients: Clients) -> None:
    """The EC2 launch type starts instances of the AMI Parameter Store recommends for
    ECS: EC2 has it (and each other recommended one), as Amazon's, after a reset; of
    the older ECS AMIs it keeps none (speedups._recommended_ecs_amis_only)."""
    recommended = {clients.ssm.get_parameter(Name=name)["Parameter"]["Value"] for name in (
        ECS_AMI_PARAMETER, "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id",
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id")}
    image = clients.ssm.get_parameter(Name=ECS_AMI_PARAMETER)["Parameter"]["Value"]
    ecs = clients.ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["*ecs*"]}])["Images"]
    found = {i["ImageId"]: i for i in ecs}
    assert recommended <= set(found)
    assert found[image]["State"] == "available" and "ecs" in found[image]["Name"]
    assert len(found) < 100  # not every ECS AMI ever published (1,227 in moto)
