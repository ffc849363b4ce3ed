"""Every path the Lambdas take, run against the emulator: what the policy must allow."""

from __future__ import annotations

import json
import time
import urllib.parse

from chalice.test import Client
from slack_sdk.signature import SignatureVerifier

from chalicelib import lifecycle, naming, signing, teardown
from chalicelib.models import Status
from chalicelib.runtime import Runtime
from daskyard.local.deploy import push_images
from daskyard.local.stack import LocalMode
from tests.conftest import spec, wait_execution, wait_status
from tests.workflow.test_image_build import build_event, remove_tag, waiting_on_build


def every_path(rt: Runtime, stack: LocalMode) -> None:
    clients = stack.clients
    assert clients is not None
    # Fargate and EC2 clusters: create, scale, destroy.
    for name, kw in (("fargate", {}), ("ec2", {"launch_type": "EC2"})):
        record = lifecycle.create_cluster(rt, spec(name, **kw))
        assert wait_execution(clients, record.execution_arn)["status"] == "SUCCEEDED"
    lifecycle.scale_cluster(rt, "fargate", 3)
    for name in ("fargate", "ec2"):
        wait_execution(clients, lifecycle.destroy_cluster(rt, name).execution_arn)
    # A create that fails and rolls back; a missing image built by CodeBuild.
    remove_tag(clients, rt)
    record = lifecycle.create_cluster(rt, spec("built"))
    build = waiting_on_build(rt, "built").resources["image_build"]
    push_images(clients, rt.settings)
    build_event(clients, rt.settings.image_build_project, build, "SUCCEEDED")
    wait_execution(clients, record.execution_arn)
    # Slack and webhook requests (secrets, idempotency records).
    with Client(stack.app.app) as chalice:
        key = clients.secrets.get_secret_value(SecretId=rt.settings.slack_secret_id)[
            "SecretString"]
        body = urllib.parse.urlencode({"command": "/dask", "text": "ls", "user_id": "U",
                                       "team_id": "T", "response_url": "http://127.0.0.1:9/"})
        ts = str(int(time.time()))
        chalice.http.post("/slack/commands", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier(key).generate_signature(timestamp=ts,
                                                                           body=body)})
        hook_key = clients.secrets.get_secret_value(SecretId=rt.settings.webhook_secret_id)[
            "SecretString"]
        raw = json.dumps({"action": "destroy", "name": "built"}).encode()
        chalice.http.post("/webhooks", body=raw, headers=signing.signed_headers(hook_key, raw))
    wait_status(rt, "built", {Status.DELETED})
    # The nightly teardown with something to sweep.
    vpc = clients.ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    clients.ec2.create_security_group(
        GroupName="daskyard-ghost", Description="orphan", VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group",
                            "Tags": naming.kv(naming.tags("ghost"))}])
    report = teardown.nightly(rt)
    assert list(report.swept) == ["ghost"]
    wait_status(rt, "ghost", {Status.DELETED}) if rt.registry.get("ghost") else time.sleep(2)
