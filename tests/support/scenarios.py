"""Every path the Lambdas take, run against the emulator: what the policy must allow."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from typing import Any
from unittest import mock

from chalice.test import Client
from slack_sdk.signature import SignatureVerifier

from chalicelib.core import naming, signing
from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime, from_env
from daskyard.local.deploy import STAGE, push_images
from daskyard.local.stack import LocalMode, wait_execution
from tests.support.clusters import fail_after, scheduler_stopped, wait_status
from tests.support.images import build_event, waiting_on_build
from tests.support.signed import SignedHttp
from tests.support.waiting import eventually

SCHEDULED = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
             "time": "2026-11-26T02:00:00Z", "region": "us-east-1", "resources": [],
             "detail": {}, "id": "1", "account": "123456789012"}


def every_path(rt: Runtime, stack: LocalMode) -> None:
    """Each Lambda entered as AWS enters it: the API through its routes, the steps by the
    state machines, the event handlers by EventBridge, the schedules as scheduled events."""
    clients = stack.clients
    assert clients is not None
    with Client(stack.app.app, stage_name=STAGE) as chalice:
        http = SignedHttp(chalice.http, stack, stack.admin)

        def call(method: str, path: str, body: Any = None) -> Any:
            out = getattr(http, method)(path, headers={"Content-Type": "application/json"},
                                        body=json.dumps(body) if body is not None else None)
            assert out.status_code < 300, out.body
            return json.loads(out.body)

        # The stage keeps a spare drive: the first create makes it, "sleepy" takes it.
        spares = mock.patch.dict(os.environ, {"DASKYARD_SPARE_DRIVES": "1"})
        spares.start()
        from_env.cache_clear()
        # Fargate and EC2 clusters (the latter on a named drive): create, scale, destroy.
        for name, kw in (("fargate", {}), ("ec2", {"launch_type": "EC2", "drive": "shared"})):
            made = call("post", "/clusters", {"name": name, "workers": 2,
                                              "allowed_cidrs": ["10.1.0.0/16"], **kw})
            assert wait_execution(clients, made["execution_arn"])["status"] == "SUCCEEDED"
        call("get", "/clusters")
        call("get", "/drives/shared")
        call("put", "/drives/shared/shares", {"principals": ["webhook:ci"]})
        call("get", "/doctor")  # the API invokes the Doctor Lambda, in the steps' group
        call("get", "/clusters/fargate/credentials")
        call("get", "/clusters/fargate/logs")
        call("get", "/clusters/fargate/logs?role=worker&limit=10")
        # A worker that ends on its own: ECS's event, recorded with its last lines.
        assert stack.agent is not None
        stack.agent.kill(stack.agent.running(rt.names("fargate").service("worker"))[0])
        eventually(lambda: "worker" in rt.registry.require("fargate").crashes, 30,
                   what="the crash recorded")
        call("get", "/clusters/fargate/events")
        call("put", "/clusters/fargate/workers", {"workers": 3})
        # Adaptive scaling on, off by a fixed size, on, off.
        call("put", "/clusters/fargate/adapt", {"minimum": 1, "maximum": 3})
        # The scheduler asks for a count (its only write); OnWorkerRequest applies it.
        clients.ssm.put_parameter(Name=rt.names("fargate").desired_workers_parameter(),
                                  Value="3", Type="String", Overwrite=True)
        call("put", "/clusters/fargate/workers", {"workers": 2})
        call("put", "/clusters/fargate/adapt", {"minimum": 0, "maximum": 2})
        call("delete", "/clusters/fargate/adapt")
        # An idle scheduler's exit destroys its cluster.
        made = call("post", "/clusters", {"name": "sleepy", "workers": 1,
                                          "allowed_cidrs": ["10.1.0.0/16"]})
        wait_execution(clients, made["execution_arn"])
        assert rt.registry.require("sleepy").resources.drive.spare  # type: ignore[union-attr]
        spares.stop()  # and the next create's KeepSpareDrives removes the one left
        from_env.cache_clear()
        chalice.lambda_.invoke("OnEcsTaskStateChange", chalice.events.generate_cw_event(
            source="aws.ecs", detail_type="ECS Task State Change", resources=[],
            detail=scheduler_stopped(stack, rt, "sleepy", naming.EXIT_IDLE)))
        wait_status(rt, "sleepy", {Status.DELETED})
        for name in ("fargate", "ec2"):
            wait_execution(clients, call("delete", f"/clusters/{name}")["execution_arn"])
        # A create that fails and rolls back; a create stopped by a DELETE at once.
        stack.router.interceptor = fail_after("StartWorkers")
        made = call("post", "/clusters", {"name": "doomed", "workers": 1,
                                          "allowed_cidrs": ["10.1.0.0/16"]})
        wait_execution(clients, made["execution_arn"])
        wait_status(rt, "doomed", {Status.FAILED})
        stack.router.interceptor = None
        call("post", "/clusters", {"name": "racer", "workers": 1,
                                   "allowed_cidrs": ["10.1.0.0/16"]})
        wait_execution(clients, call("delete", "/clusters/racer")["execution_arn"])
        # A missing repository (a new account) made, its image built by CodeBuild, then
        # the cluster destroyed by a signed webhook.
        clients.ecr.delete_repository(
            repositoryName=naming.repository(rt.settings.ecr_prefix, "worker"), force=True)
        hook_key = clients.secrets.get_secret_value(SecretId=rt.settings.webhook_secret_id)[
            "SecretString"]

        def hook(body: dict[str, Any]) -> Any:
            raw = json.dumps(body).encode()
            out = http.post("/webhooks", body=raw, headers=signing.signed_headers(hook_key, raw))
            assert out.status_code < 300, out.body
            return json.loads(out.body)

        # Made and destroyed by one webhook key: a key acts on its own clusters.
        made = hook({"action": "create", "name": "built", "workers": 1,
                     "allowed_cidrs": ["10.1.0.0/16"]})
        build = waiting_on_build(rt, "built").resources.image_build
        push_images(clients, rt.settings)
        build_event(clients, rt.settings.image_build_project, build, "SUCCEEDED")
        wait_execution(clients, made["execution_arn"])
        key = clients.secrets.get_secret_value(SecretId=rt.settings.slack_secret_id)[
            "SecretString"]
        body = urllib.parse.urlencode({"command": "/dask", "text": "ls", "user_id": "U",
                                       "team_id": "T", "response_url": "http://127.0.0.1:9/"})
        ts = str(int(time.time()))
        with mock.patch.dict(os.environ, {"DASKYARD_SLACK_TEAMS": "T"}):  # a served team
            from_env.cache_clear()
            http.post("/slack/commands", body=body, headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": SignatureVerifier(key).generate_signature(timestamp=ts,
                                                                               body=body)})
        from_env.cache_clear()
        hook({"action": "destroy", "name": "built"})
        wait_status(rt, "built", {Status.DELETED})
        # The schedules, with something to sweep.
        vpc = clients.ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        clients.ec2.create_security_group(
            GroupName=rt.names("ghost").base(), Description="orphan", VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group",
                                "Tags": naming.kv(naming.tags(rt.settings.stage, "ghost"))}])
        made = call("post", "/clusters", {"name": "overnight", "workers": 1,
                                          "allowed_cidrs": ["10.1.0.0/16"]})
        wait_execution(clients, made["execution_arn"])
        chalice.lambda_.invoke("ExpireClusters", SCHEDULED)
        report = chalice.lambda_.invoke("NightlyTeardown", SCHEDULED).payload
        assert list(report["swept"]) == ["ghost"]
        assert report["destroyed"] == {"overnight": "nightly"}
        wait_status(rt, "overnight", {Status.DELETED})
    eventually(lambda: not clients.ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [rt.names("ghost").base()]}])["SecurityGroups"],
               60, interval=0.1, what="the orphan was swept")
