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


# IPv4 inside IPv6 transition forms: compatible, mapped, NAT64 (well-known and local
# use), 6to4, Teredo (client 127.0.0.1, stored inverted).
TRANSITION = ["http://[::127.0.0.1]/hook", "http://[::ffff:127.0.0.1]/hook",
              "http://[64:ff9b::a9fe:a9fe]/hook", "http://[64:ff9b:1:a00:0:500::]/hook",
              "http://[2002:7f00:1::]/hook", "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook"]


@pytest.mark.reads_only
@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://127.0.0.1:9/hook", "http://10.0.0.5/hook",
                                 "http://[::1]:8080/hook", *TRANSITION])
def test_a_webhook_with_an_inward_callback_is_refused_and_makes_nothing(
        http: Any, rt: Runtime, clients: Clients, monkeypatch: pytest.MonkeyPatch,
        url: str) -> None:
    monkeypatch.setattr(rt.settings, "allow_private_callbacks", False)  # as deployed
    response = signed(http, clients, rt, {**CREATE, "callback_url": url})
    assert response.status_code == 400, response.body
    assert "callback_url" in json.loads(response.body)["error"]
    assert rt.registry.list() == []


@pytest.mark.reads_only
@pytest.mark.parametrize("url", ["http://[64:ff9b::a9fe:a9fe]/latest/",
                                 "http://[::ffff:169.254.169.254]/latest/",
                                 "http://[2002:a9fe:a9fe::1]/latest/"])
def test_the_metadata_service_inside_ipv6_is_refused_even_in_local_mode(
        http: Any, rt: Runtime, clients: Clients, url: str) -> None:
    assert rt.settings.allow_private_callbacks  # local mode's receivers are on 127.0.0.1
    response = signed(http, clients, rt, {**CREATE, "callback_url": url})
    assert response.status_code == 400, response.body
    assert "instance metadata" in json.loads(response.body)["error"]
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
