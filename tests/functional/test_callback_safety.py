"""Webhook callbacks and Slack response URLs cannot be turned inward, and a slow or
failing receiver never rolls back a READY cluster."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import notify
from chalicelib.core import signing
from chalicelib.core.aws import Clients
from chalicelib.core.models import Status
from chalicelib.core.runtime import Runtime
from daskyard.local.stack import LocalMode, wait_execution

CREATE = {"action": "create", "name": "demo", "workers": 1, "allowed_cidrs": ["10.1.0.0/16"]}


def signed(http: Any, clients: Clients, rt: Runtime, body: dict[str, Any]) -> Any:
    key = clients.secrets.get_secret_value(SecretId=rt.settings.webhook_secret_id)[
        "SecretString"]
    raw = json.dumps(body).encode()
    return http.post("/webhooks", body=raw, headers=signing.signed_headers(key, raw))


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://127.0.0.1:9/hook", "http://10.0.0.5/hook",
                                 "http://[::1]:8080/hook"])
def test_a_webhook_with_an_inward_callback_is_refused_and_makes_nothing(
        http: Any, rt: Runtime, clients: Clients, monkeypatch: pytest.MonkeyPatch,
        url: str) -> None:
    monkeypatch.setattr(rt.settings, "allow_private_callbacks", False)  # as deployed
    response = signed(http, clients, rt, {**CREATE, "callback_url": url})
    assert response.status_code == 400, response.body
    assert "callback_url" in json.loads(response.body)["error"]
    assert rt.registry.list() == []


class Hanging:
    """A receiver that takes the POST and answers only after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.calls = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.calls += 1
                time.sleep(delay)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    receiver = Hanging(delay=30)
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_a_hanging_receiver_neither_blocks_nor_rolls_back_a_ready_cluster(
        http: Any, rt: Runtime, clients: Clients, stack: LocalMode, hanging: Hanging,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "TIMEOUT", 1)  # seconds; the receiver answers after 30
    response = signed(http, clients, rt, {**CREATE, "callback_url": hanging.url})
    assert response.status_code == 202, response.body
    record = json.loads(response.body)
    started = time.monotonic()
    out = wait_execution(clients, record["execution_arn"])
    assert out["status"] == "SUCCEEDED", out
    assert time.monotonic() - started < 25  # the post gave up; it did not wait 30 s
    assert hanging.calls == 1
    assert rt.registry.require("demo").status == Status.READY
