"""The Slack slash command through chalice.test.Client, signed by slack_sdk's own signer.
Refused requests create nothing; a retried request starts one execution; the outcome
is posted to the response_url (a real HTTP receiver here)."""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from typing import Any

import pytest
from slack_sdk.signature import SignatureVerifier

from chalicelib.core.aws import Clients
from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime, runtime
from tests.support.clusters import wait_status
from tests.support.receiver import Receiver


def executions(clients: Clients, rt: Runtime) -> int:
    return len(clients.sfn.list_executions(
        stateMachineArn=rt.settings.create_state_machine_arn)["executions"])


def signing_secret(clients: Clients, rt: Runtime) -> str:
    return str(clients.secrets.get_secret_value(SecretId=rt.settings.slack_secret_id)[
        "SecretString"])


def form(text: str, response_url: str, **extra: str) -> str:
    """A slash command as Slack posts it; each invocation has its own trigger_id."""
    return urllib.parse.urlencode({
        "command": "/dask", "text": text, "response_url": response_url, "user_id": "U123",
        "team_id": "T123", "trigger_id": f"13345224609.{uuid.uuid4().int % 10**9}",
        "token": "deprecated", **extra})


def slack(http: Any, secret: str, body: str, *, at: float | None = None,
          signature: str | None = None, retry: int | None = None) -> Any:
    timestamp = str(int(time.time() if at is None else at))
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Slack-Request-Timestamp": timestamp,
               "X-Slack-Signature": signature or SignatureVerifier(secret).generate_signature(
                   timestamp=timestamp, body=body)}
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return http.post("/slack/commands", headers=headers, body=body)


@pytest.fixture
def secret(clients: Clients, stage_config: Any) -> str:
    """The signing secret, on a stage that serves the test's Slack team."""
    stage_config(slack_teams=["T123"])
    return signing_secret(clients, runtime())


def text_of(response: Any) -> str:
    body = json.loads(response.body)
    assert body["response_type"] == "ephemeral"
    return str(body["text"])


def test_up_acknowledges_at_once_and_posts_ready_with_links(
        http: Any, rt: Runtime, secret: str, receiver: Receiver) -> None:
    started = time.monotonic()
    response = slack(http, secret, form("up demo workers=3 ttl=8h", receiver.url))
    acknowledged = time.monotonic() - started
    assert response.status_code == 200
    assert "Creating *demo* with 3 workers" in text_of(response)
    assert acknowledged < 3, f"Slack waits 3 s; answered in {acknowledged:.2f} s"
    record = wait_status(rt, "demo", {Status.READY})
    assert record.spec.workers == 3 and record.spec.ttl_hours == 8
    assert record.owner == "slack:T123/U123"
    [(_, raw)] = receiver.wait(1)
    message = json.loads(raw)
    assert "is READY" in message["text"] and message["response_type"] == "ephemeral"
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["url"] for b in buttons] == [record.scheduler.dashboard_url]


def test_retried_request_starts_one_execution(http: Any, rt: Runtime, clients: Clients,
                                              secret: str, receiver: Receiver) -> None:
    body = form("up demo workers=1", receiver.url)
    first = slack(http, secret, body)
    again = [slack(http, secret, body, retry=n) for n in (1, 2)]
    assert [r.status_code for r in [first, *again]] == [200, 200, 200]
    assert {text_of(r) for r in [first, *again]} == {text_of(first)}
    assert executions(clients, rt) == 1
    # A new command with the same words is a new request, and finds the name taken.
    other = slack(http, secret, form("up demo workers=1", receiver.url))
    assert "already exists" in text_of(other)
    assert executions(clients, rt) == 1


@pytest.mark.reads_only
@pytest.mark.parametrize(("case", "status"), [
    ("tampered", 401), ("stale", 401), ("future", 401), ("wrong secret", 401),
    ("no signature", 401), ("bad response_url", 400), ("oversized", 413),
])
def test_bad_requests_are_refused_and_nothing_is_created(
        http: Any, rt: Runtime, clients: Clients, secret: str, receiver: Receiver,
        case: str, status: int) -> None:
    body = form("up demo", receiver.url)
    if case == "tampered":
        signed = SignatureVerifier(secret).generate_signature(
            timestamp=str(int(time.time())), body=body)
        response = slack(http, secret, body.replace("demo", "evil"), signature=signed)
    elif case == "stale":
        response = slack(http, secret, body, at=time.time() - 301)
    elif case == "future":
        response = slack(http, secret, body, at=time.time() + 301)
    elif case == "wrong secret":
        response = slack(http, "not-the-secret", body)
    elif case == "no signature":
        response = http.post("/slack/commands", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
    elif case == "bad response_url":
        response = slack(http, secret, form("up demo", "https://evil.example/hook"))
    else:
        response = slack(http, secret, form("up demo", receiver.url, pad="x" * 20_000))
    assert response.status_code == status
    assert json.loads(response.body)["error"]
    assert rt.registry.list() == []
    assert executions(clients, rt) == 0


@pytest.mark.reads_only
def test_replayed_request_is_refused_after_the_window(http: Any, rt: Runtime, clients: Clients,
                                                      secret: str, receiver: Receiver) -> None:
    body = form("ls", receiver.url)
    timestamp = str(int(time.time()) - 400)
    captured = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    response = http.post("/slack/commands", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": captured})
    assert response.status_code == 401
    assert "window" in json.loads(response.body)["error"]


@pytest.mark.reads_only
@pytest.mark.parametrize(("text", "expected"), [
    ("up", "give a cluster name"),
    ("up Bad_Name", "name: String should match"),
    ("up demo workers=many", "workers: a whole number"),
    ("up demo workers=999", "at most 16 workers"),
    ("up demo ttl=forever", "ttl: a whole number"),
    ("up demo teardown=never ttl=2h", "ttl_hours cannot be combined"),
    ("up demo gpu", "options are key=value"),
    ("launch demo", "unknown command 'launch'"),
    ("down", "exactly one cluster name"),
    ("scale demo lots", "workers: a whole number"),
])
def test_mistyped_commands_get_a_clear_answer_and_create_nothing(
        http: Any, rt: Runtime, clients: Clients, secret: str, receiver: Receiver,
        text: str, expected: str) -> None:
    response = slack(http, secret, form(text, receiver.url))
    assert response.status_code == 200
    assert expected in text_of(response)
    assert rt.registry.list() == []
    assert executions(clients, rt) == 0


def test_help_ls_status_scale_and_down(http: Any, rt: Runtime, secret: str,
                                       receiver: Receiver) -> None:
    assert "/dask up NAME" in text_of(slack(http, secret, form("", receiver.url)))
    assert text_of(slack(http, secret, form("ls", receiver.url))) == "No live clusters."
    assert "no cluster named 'ghost'" in text_of(slack(http, secret, form("status ghost",
                                                                         receiver.url)))
    slack(http, secret, form("up demo workers=1", receiver.url))
    wait_status(rt, "demo", {Status.READY})
    assert text_of(slack(http, secret, form("ls", receiver.url))).startswith("*demo* READY")
    status = text_of(slack(http, secret, form("status demo", receiver.url)))
    assert "Scheduler: tls://" in status and "Dashboard: https://" in status
    scaled = text_of(slack(http, secret, form("scale demo 2", receiver.url)))
    assert scaled == "*demo* now has 2 workers."
    assert rt.registry.require("demo").spec.workers == 2
    down = text_of(slack(http, secret, form("down demo", receiver.url)))
    assert down.startswith("Destroying *demo*")
    wait_status(rt, "demo", {Status.DELETED})
    posts = receiver.wait(2)
    assert "is DELETED" in json.loads(posts[-1][1])["text"]


def test_failed_create_posts_the_reason(http: Any, rt: Runtime, secret: str,
                                        receiver: Receiver, stack: Any) -> None:
    def fail(name: str, event: dict[str, Any], handler: Any) -> Any:
        if name == "StartScheduler" and event.get("action") == "create":
            raise RuntimeError("no capacity in this zone")
        return handler(event, None)

    stack.router.interceptor = fail
    slack(http, secret, form("up demo", receiver.url))
    record = wait_status(rt, "demo", {Status.FAILED})
    [(_, raw)] = receiver.wait(1)
    text = json.loads(raw)["text"]
    assert "FAILED" in text and "no capacity in this zone" in text
    assert "no capacity" in record.error


@pytest.mark.reads_only
@pytest.mark.parametrize(("extra", "config"), [
    ({"team_id": "T999"}, {}),  # a workspace the app is installed in, not on the list
    ({"channel_id": "C999"}, {"slack_channels": ["C123"]}),
])
def test_a_team_or_channel_not_listed_is_refused_and_nothing_is_created(
        http: Any, rt: Runtime, clients: Clients, secret: str, receiver: Receiver,
        stage_config: Any, extra: dict[str, str], config: dict[str, Any]) -> None:
    stage_config(slack_teams=["T123"], **config)
    response = slack(http, secret, form("up demo", receiver.url, **extra))
    assert response.status_code == 403
    assert "not allowed on this stage" in json.loads(response.body)["error"]
    assert rt.registry.list() == []
    assert executions(clients, rt) == 0


def test_a_slack_user_acts_on_their_own_clusters_and_a_slack_admin_on_all(
        http: Any, rt: Runtime, secret: str, receiver: Receiver, stage_config: Any) -> None:
    stage_config(slack_teams=["T123"], admins=["slack:T123/UADMIN"])
    slack(http, secret, form("up demo workers=1", receiver.url))
    wait_status(rt, "demo", {Status.READY})
    other = {"user_id": "U456"}
    assert text_of(slack(http, secret, form("ls", receiver.url, **other))) == \
        "No live clusters."
    for text in ("status demo", "scale demo 3", "down demo"):
        assert "no cluster named 'demo'" in text_of(
            slack(http, secret, form(text, receiver.url, **other)))
    assert rt.registry.require("demo").status == Status.READY
    assert rt.registry.require("demo").spec.workers == 1
    admin = {"user_id": "UADMIN"}
    assert text_of(slack(http, secret, form("ls", receiver.url, **admin))).startswith("*demo*")
    assert text_of(slack(http, secret, form("down demo", receiver.url, **admin))).startswith(
        "Destroying *demo*")
    wait_status(rt, "demo", {Status.DELETED})


def test_a_slack_cluster_opens_only_the_cidrs_its_command_names(
        http: Any, rt: Runtime, clients: Clients, secret: str, receiver: Receiver) -> None:
    slack(http, secret, form("up quiet workers=0", receiver.url))
    slack(http, secret, form("up open workers=0 cidr=10.9.0.0/16", receiver.url))
    refused = text_of(slack(http, secret, form("up wide workers=0 cidr=0.0.0.0/0",
                                               receiver.url)))
    assert "0.0.0.0/0 is not allowed" in refused
    assert rt.registry.require("quiet").spec.allowed_cidrs == []
    assert rt.registry.require("open").spec.allowed_cidrs == ["10.9.0.0/16"]
    assert rt.registry.get("wide") is None
    wait_status(rt, "quiet", {Status.READY})
    group = clients.ec2.describe_security_groups(Filters=[
        {"Name": "tag:daskyard:cluster", "Values": ["quiet"]}])["SecurityGroups"][0]
    opened = {r["CidrIp"] for p in group["IpPermissions"] for r in p.get("IpRanges", [])}
    assert opened == set()  # only the rule for traffic within the group
