"""Local mode's emulator says no as AWS does: unsigned calls, unknown keys and other
regions are refused; a task's credentials are its own role's (a worker cannot read its
cluster's secret, nor the execution role the stage's signing secrets); the local admin's
keys administer it."""

from __future__ import annotations

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from chalicelib.core.aws import Clients
from chalicelib.core.runtime import Runtime
from daskyard.local.stack import LocalMode
from tests.support.clusters import create


@pytest.mark.reads_only
def test_unsigned_and_unknown_key_calls_are_refused(stack: LocalMode) -> None:
    assert stack.iam is not None, "local mode runs without IAM (npm install)"
    unsigned = requests.post(stack.emulator.url, timeout=10, headers={
        "X-Amz-Target": "AmazonSSM.GetParametersByPath",
        "Content-Type": "application/x-amz-json-1.1"}, data='{"Path": "/daskyard"}')
    assert unsigned.status_code == 403 and "MissingAuthenticationToken" in unsigned.text
    stranger = boto3.client("ssm", region_name="us-east-1", endpoint_url=stack.emulator.url,
                            aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    with pytest.raises(ClientError) as refused:
        stranger.get_parameters_by_path(Path="/daskyard")
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    key_id, secret, _ = stack.iam.root
    elsewhere = boto3.client("ssm", region_name="eu-west-1", endpoint_url=stack.emulator.url,
                             aws_access_key_id=key_id, aws_secret_access_key=secret)
    with pytest.raises(ClientError) as refused:
        elsewhere.get_parameters_by_path(Path="/daskyard")
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
    forged = boto3.client("ssm", region_name="us-east-1", endpoint_url=stack.emulator.url,
                          aws_access_key_id=key_id, aws_secret_access_key="not-the-secret")
    with pytest.raises(ClientError):
        forged.get_parameters_by_path(Path="/daskyard")


def test_the_local_admin_administers_the_emulator(stack: LocalMode) -> None:
    _, key_id, secret = stack.admin
    admin = Clients(endpoint_url=stack.emulator.url, credentials={
        "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret})
    assert admin.client("iam").get_user(UserName="daskyard-local-admin")["User"]["Arn"]
    admin.ssm.put_parameter(Name="/operator/note", Value="x", Type="String")


def test_a_task_reads_neither_its_secret_nor_another_clusters_nor_the_stages(rt: Runtime,
                                                                 stack: LocalMode) -> None:
    assert stack.iam is not None
    assert create(rt, stack, workers=1)["status"] == "SUCCEEDED"
    names, settings = rt.names("demo"), rt.settings
    task = Clients(endpoint_url=stack.emulator.url, credentials=stack.iam.assume(
        settings.task_role_arn, "worker"))
    task.ssm.get_parameter(Name=names.scheduler_parameter())  # what a worker needs
    for secret in (names.credentials_secret(), settings.webhook_secret_id):
        with pytest.raises(ClientError) as refused:
            task.secrets.get_secret_value(SecretId=secret)
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    execution = Clients(endpoint_url=stack.emulator.url, credentials=stack.iam.assume(
        settings.task_execution_role_arn, "ecs"))
    execution.secrets.get_secret_value(SecretId=names.credentials_secret())
    for secret in (settings.webhook_secret_id, settings.slack_secret_id):
        with pytest.raises(ClientError) as refused:
            execution.secrets.get_secret_value(SecretId=secret)
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException", secret
    # Code run on a scheduler (its own role, under the boundary) reads no secret at all:
    # not its cluster's, not another cluster's (the audit's cross-owner read).
    scheduler = Clients(endpoint_url=stack.emulator.url, credentials=stack.iam.assume(
        rt.registry.require("demo").resources.scheduler_role, "scheduler"))
    for secret in (names.credentials_secret(), rt.names("other").credentials_secret()):
        with pytest.raises(ClientError) as refused:
            scheduler.secrets.get_secret_value(SecretId=secret)
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException", secret
