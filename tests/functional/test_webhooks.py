"""POST /webhooks through chalice.test.Client: HMAC-signed JSON, a 5-minute window,
exact replays answered once, the outcome posted (signed) to callback_url."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from chalicelib.core import signing
from chalicelib.core.aws import Clients
from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime
from tests.support.clusters import wait_status
from tests.support.receiver import Receiver

CREATE = {"action": "create", "name": "demo", "workers": 1, "allowed_cidrs": ["10.1.0.0/16"]}


@pytest.fixture
def key(clients: Clients, rt: Runtime) -> str:
    return str(clients.secrets.get_secret_value(SecretId=rt.settings.webhook_secret_id)[
        "SecretString"])


def executions(clients: Clients, arn: str) -> int:
    return len(clients.sfn.list_executions(stateMachineArn=arn)["executions"])


def hook(http: Any, key: str, body: Any, *, at: float | None = None,
         headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post("/webhooks", body=raw,
                     headers=headers if headers is not None else signing.signed_headers(
                         key, raw, at))


def test_create_then_destroy_with_signed_callbacks(http: Any, rt: Runtime, key: str,
                                                   receiver: Receiver) -> None:
    response = hook(http, key, {**CREATE, "callback_url": receiver.url})
    assert response.status_code == 202
    assert json.loads(response.body)["status"] == "CREATING"
    assert "callback_url" not in response.body.decode() and "notify" not in json.loads(
        response.body)
    wait_status(rt, "demo", {Status.READY})
    [(headers, raw)] = receiver.wait(1)
    signing.verify(key, headers, raw)  # the receiver can check it came from us
    event = json.loads(raw)
    assert event["event"] == "cluster.ready"
    assert event["cluster"]["scheduler_address"].startswith("tls://")
    assert "notify" not in event["cluster"] and "task_token" not in event["cluster"]

    scaled = hook(http, key, {"action": "scale", "name": "demo", "workers": 2})
    assert scaled.status_code == 200 and json.loads(scaled.body)["spec"]["workers"] == 2

    gone = hook(http, key, {"action": "destroy", "name": "demo", "callback_url": receiver.url})
    assert gone.status_code == 202
    wait_status(rt, "demo", {Status.DELETED})
    assert json.loads(receiver.wait(2)[-1][1])["event"] == "cluster.deleted"


def test_exact_replay_within_the_window_starts_one_execution(http: Any, rt: Runtime,
                                                             clients: Clients, key: str) -> None:
    raw = json.dumps(CREATE).encode()
    headers = signing.signed_headers(key, raw)
    first, replay = (http.post("/webhooks", body=raw, headers=headers) for _ in range(2))
    assert first.status_code == replay.status_code == 202
    assert json.loads(first.body) == json.loads(replay.body)
    assert executions(clients, rt.settings.create_state_machine_arn) == 1


def respellings(at: int) -> list[str]:
    """The audit's: each int() reads as `at`, so each passed a signature over str(at)
    and, as the replay key was the raw header, ran again."""
    digits = str(at)
    return ["0" + digits, "+" + digits, f"{at:_}", " " + digits, digits + "\n",
            "".join(chr(0x660 + int(d)) for d in digits)]  # Arabic-Indic digits


def test_a_replay_re_spelled_is_refused_and_an_exact_one_answers_the_first_answer(
        http: Any, rt: Runtime, clients: Clients, key: str) -> None:
    raw = json.dumps(CREATE).encode()
    headers = signing.signed_headers(key, raw)
    first = http.post("/webhooks", body=raw, headers=headers)
    assert first.status_code == 202
    at = int(headers[signing.TIMESTAMP_HEADER])
    for text in respellings(at):
        # Signed as the first request (over the time), and as the re-spelled text.
        for signature in (headers[signing.SIGNATURE_HEADER],
                          "v1=" + hmac.new(key.encode(), f"v1:{text}:".encode() + raw,
                                           hashlib.sha256).hexdigest()):
            again = http.post("/webhooks", body=raw, headers={
                **headers, signing.TIMESTAMP_HEADER: text, signing.SIGNATURE_HEADER: signature})
            assert again.status_code == 401, (text, again.body)
            assert "not a unix time" in json.loads(again.body)["error"]
    replay = http.post("/webhooks", body=raw, headers=headers)
    assert (replay.status_code, json.loads(replay.body)) == (202, json.loads(first.body))
    assert executions(clients, rt.settings.create_state_machine_arn) == 1
    assert [r.name for r in rt.registry.list()] == ["demo"]


def test_an_old_scale_re_spelled_cannot_undo_a_later_one(http: Any, rt: Runtime,
                                                          key: str) -> None:
    """The audit's attack: a captured "scale to 1", re-spelled, undid a later "scale to
    0" three times."""
    assert hook(http, key, CREATE).status_code == 202
    wait_status(rt, "demo", {Status.READY})
    now = int(time.time())
    one = json.dumps({"action": "scale", "name": "demo", "workers": 1}).encode()
    captured = signing.signed_headers(key, one, at=now - 1)
    assert http.post("/webhooks", body=one, headers=captured).status_code == 200
    assert hook(http, key, {"action": "scale", "name": "demo", "workers": 0},
                at=now).status_code == 200
    for text in respellings(now - 1)[:3]:
        again = http.post("/webhooks", body=one,
                          headers={**captured, signing.TIMESTAMP_HEADER: text})
        assert again.status_code == 401, (text, again.body)
    replay = http.post("/webhooks", body=one, headers=captured)  # answered, not run
    assert replay.status_code == 200 and json.loads(replay.body)["spec"]["workers"] == 1
    assert rt.registry.require("demo").spec.workers == 0


def _stale(key: str, raw: bytes) -> dict[str, str]:
    return signing.signed_headers(key, raw, at=time.time() - signing.REPLAY_WINDOW - 5)


def _tampered(key: str, raw: bytes) -> dict[str, str]:
    headers = signing.signed_headers(key, raw)
    headers[signing.SIGNATURE_HEADER] = signing.sign(key, int(time.time()), raw + b" ")
    return headers


@pytest.mark.reads_only
@pytest.mark.parametrize(("headers", "status", "message"), [
    (lambda key, raw: {"Content-Type": "application/json"}, 401, "headers are required"),
    (lambda key, raw: signing.signed_headers("wrong-key", raw), 401, "does not match"),
    (_tampered, 401, "does not match"),
    (_stale, 401, "window"),
    (lambda key, raw: {**signing.signed_headers(key, raw),
                       signing.TIMESTAMP_HEADER: "yesterday"}, 401, "not a unix time"),
])
def test_bad_signatures_are_refused(http: Any, rt: Runtime, clients: Clients, key: str,
                                    headers: Any, status: int, message: str) -> None:
    raw = json.dumps(CREATE).encode()
    response = hook(http, key, raw, headers=headers(key, raw))
    assert response.status_code == status
    assert message in json.loads(response.body)["error"]
    assert rt.registry.list() == []
    assert executions(clients, rt.settings.create_state_machine_arn) == 0


@pytest.mark.reads_only
@pytest.mark.parametrize(("body", "status", "message"), [
    (b"{nope", 400, "not valid JSON"),
    ({"action": "explode", "name": "demo"}, 400, "action"),
    ({**CREATE, "workers": "2"}, 400, "workers"),
    ({**CREATE, "colour": "red"}, 400, "colour"),
    ({**CREATE, "name": "X"}, 400, "name"),
    ({**CREATE, "workers": 999}, 400, "at most 16 workers"),
    ({**CREATE, "callback_url": "ftp://example.com/x"}, 400, "callback_url"),
    ({**CREATE, "callback_url": "https://user:pw@example.com/x"}, 400, "credentials"),
    ({"action": "scale", "name": "demo", "workers": 2, "callback_url": "https://x.io"}, 400,
     "callback_url"),
    ({"action": "destroy", "name": "ghost"}, 404, "no cluster named"),
    ({**CREATE, "pad": "x" * 20_000}, 413, "larger than"),
])
def test_bad_bodies_are_refused_and_nothing_is_created(
        http: Any, rt: Runtime, clients: Clients, key: str, body: Any, status: int,
        message: str) -> None:
    response = hook(http, key, body)
    assert response.status_code == status, response.body
    assert message in json.loads(response.body)["error"]
    assert rt.registry.list() == []
    assert executions(clients, rt.settings.create_state_machine_arn) == 0
    assert executions(clients, rt.settings.destroy_state_machine_arn) == 0
