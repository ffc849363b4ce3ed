"""Callback URLs cannot be turned inward: checked after DNS resolution, no redirects."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.core import callbacks
from chalicelib.core.settings import Settings

STRICT = Settings(allow_http_callbacks=True, allow_private_callbacks=False)
LOCAL = Settings(allow_http_callbacks=True, allow_private_callbacks=True)


@pytest.mark.parametrize(("url", "why"), [
    ("http://169.254.169.254/latest/meta-data/", "instance metadata"),
    ("http://127.0.0.1:9/hook", "loopback"),
    ("http://localhost/hook", "loopback"),
    ("http://10.0.0.5/hook", "private"),
    ("http://192.168.1.1/hook", "private"),
    ("http://[::1]:8080/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://0.0.0.0/hook", "unspecified"),
])
def test_inward_addresses_are_refused_naming_why(url: str, why: str) -> None:
    with pytest.raises(callbacks.UnsafeCallback, match=why):
        callbacks.check(url, STRICT)


@pytest.mark.parametrize(("url", "why"), [
    ("https://user:secret@93.184.216.34/hook", "credentials"),
    ("ftp://93.184.216.34/hook", "must be an https or http URL"),
    ("http:///hook", "must be an"),
    ("http://no-such-host.invalid/hook", "does not resolve"),
])
def test_malformed_callbacks_are_refused(url: str, why: str) -> None:
    with pytest.raises(callbacks.UnsafeCallback, match=why):
        callbacks.check(url, STRICT)


def test_plain_http_needs_the_stage_to_allow_it() -> None:
    with pytest.raises(callbacks.UnsafeCallback, match="must be an https URL"):
        callbacks.check("http://93.184.216.34/hook", Settings())
    assert callbacks.check("https://93.184.216.34/hook", Settings())


def test_a_public_address_is_accepted() -> None:
    assert callbacks.check("http://93.184.216.34/hook", STRICT) == "http://93.184.216.34/hook"


def test_metadata_is_refused_even_where_private_addresses_are_allowed() -> None:
    with pytest.raises(callbacks.UnsafeCallback, match="instance metadata"):
        callbacks.check("http://169.254.169.254/latest/", LOCAL)


class Hits:
    def __init__(self, status: int, location: str = "") -> None:
        self.paths: list[str] = []
        hits, code = self.paths, status

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hits.append(self.path)
                self.send_response(code)
                if location:
                    self.send_header("Location", location)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def servers() -> Iterator[list[Hits]]:
    made: list[Hits] = []
    yield made
    for hits in made:
        hits.server.shutdown()
        hits.server.server_close()


def test_a_redirect_is_not_followed(servers: list[Hits]) -> None:
    inside = Hits(200)
    redirector = Hits(302, location=f"{inside.url}/internal")
    servers += [inside, redirector]
    status = callbacks.post(f"{redirector.url}/hook", b"{}", {}, LOCAL, timeout=5)
    assert status == 302
    assert redirector.paths == ["/hook"] and inside.paths == []


def test_post_checks_the_address_again_when_it_sends(servers: list[Hits]) -> None:
    receiver = Hits(200)
    servers.append(receiver)
    with pytest.raises(callbacks.UnsafeCallback, match="loopback"):
        callbacks.post(f"{receiver.url}/hook", b"{}", {}, STRICT, timeout=5)
    assert receiver.paths == []


def test_a_name_rebound_after_its_check_is_not_resolved_again(
        servers: list[Hits], monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name answers a permitted address to the check and the metadata
    service to whatever asks next. The post goes to the address that was checked."""
    receiver = Hits(200)
    servers.append(receiver)
    port = int(receiver.url.rsplit(":", 1)[1])
    answers = ["127.0.0.1", "169.254.169.254"]
    resolved: list[str] = []
    real = callbacks.socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "rebind.example":  # an address, as create_connection asks for it
            return real(host, *args, **kwargs)
        resolved.append(answers[min(len(resolved), 1)])
        return [(2, 1, 6, "", (resolved[-1], port))]

    monkeypatch.setattr(callbacks.socket, "getaddrinfo", rebinding)
    status = callbacks.post(f"http://rebind.example:{port}/hook", b"{}", {}, LOCAL, timeout=5)
    assert status == 200 and receiver.paths == ["/hook"]
    assert resolved == ["127.0.0.1"]  # asked once, by the check
