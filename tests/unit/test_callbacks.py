"""Callback URLs cannot be turned inward: checked after DNS resolution, no redirects."""

from __future__ import annotations

import http.server
import re
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


# IPv4 inside IPv6: what the packets reach is the IPv4 address, which Python's ipaddress
# does not look at (it calls ::127.0.0.1 and 64:ff9b::7f00:1 global).
@pytest.mark.parametrize(("url", "why"), [
    ("http://[::127.0.0.1]/hook", "loopback address (127.0.0.1 inside"),  # compatible
    ("http://[::10.0.0.5]/hook", "private address (10.0.0.5 inside"),
    ("http://[::ffff:10.0.0.5]/hook", "private address (10.0.0.5 inside"),  # mapped
    ("http://[::ffff:0:127.0.0.1]/hook", "loopback address (127.0.0.1 inside"),  # translated
    ("http://[64:ff9b::127.0.0.1]/hook", "loopback address (127.0.0.1 inside"),  # NAT64
    ("http://[64:ff9b::a9fe:fea9]/hook", "link-local address (169.254.254.169 inside"),
    ("http://[64:ff9b::c0a8:101]/hook", "private address (192.168.1.1 inside"),
    ("http://[64:ff9b:1:7f00:0:100::]/hook", "local-use NAT64"),  # 127.0.0.1 after a /48
    ("http://[64:ff9b:1::5db8:d822]/hook", "local-use NAT64"),  # even a public one
    ("http://[2002:7f00:1::1]/hook", "loopback address (127.0.0.1 inside"),  # 6to4
    ("http://[2002:a9fe:a9fe::]/hook", "instance metadata service (169.254.169.254 inside"),
    ("http://[2002:c0a8:101::1]/hook", "private address (192.168.1.1 inside"),
    # Teredo: server 65.54.227.120, client 127.0.0.1 stored inverted (80ff:fffe); then
    # a server at 10.0.0.1.
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook", "loopback address (127.0.0.1 inside"),
    ("http://[2001:0:a00:1:8000:63bf:a2b7:29dd]/hook", "private address (10.0.0.1 inside"),
])
def test_ipv4_inside_ipv6_transition_forms_is_what_is_checked(url: str, why: str) -> None:
    with pytest.raises(callbacks.UnsafeCallback, match=re.escape(why)):
        callbacks.check(url, STRICT)


@pytest.mark.parametrize("url", ["http://[64:ff9b::a9fe:a9fe]/", "http://[::169.254.169.254]/",
                                 "http://[::ffff:169.254.169.254]/",
                                 "http://[64:ff9b:1:a9fe:a9:fe00::]/",  # after a /48
                                 "http://[64:ff9b:1:a9:fe:a9fe::]/",  # after a /56
                                 "http://[64:ff9b:1:0:a9:fea9:fe00:0]/",  # after a /64
                                 "http://[64:ff9b:1::a9fe:a9fe]/",  # after a /96
                                 "http://[2002:a9fe:a9fe::1]/",
                                 "http://[2001:0:4136:e378:8000:63bf:5601:5601]/"])
def test_the_metadata_service_inside_ipv6_is_refused_where_private_addresses_are_allowed(
        url: str) -> None:
    with pytest.raises(callbacks.UnsafeCallback, match="instance metadata service"):
        callbacks.check(url, LOCAL)


@pytest.mark.parametrize("url", ["http://[64:ff9b::5db8:d822]/hook", "http://[2002:5db8:d822::1]/hook",
                                 "http://[::ffff:93.184.216.34]/hook"])
def test_a_public_ipv4_inside_ipv6_is_accepted(url: str) -> None:
    assert callbacks.check(url, STRICT) == url


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
