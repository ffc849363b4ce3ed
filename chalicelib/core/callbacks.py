"""Posting to URLs that requests hand us (a webhook's callback_url, Slack's response_url)
without letting them turn the Lambda inward: only http(s) to public addresses, checked
after DNS resolution when the request comes and again when posting; no redirects
followed; every post bounded by a deadline. A stage may allow private addresses (local
mode, whose receivers are on 127.0.0.1); the cloud metadata service never is."""

from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from chalicelib.core.errors import InvalidRequest
from chalicelib.core.settings import Settings

# The instance metadata service (IPv4 and IPv6): credentials live there.
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeCallback(InvalidRequest):
    """A callback URL that is not http(s), carries credentials, or reaches an address
    that is not public."""


def _refusal(address: Address, private_ok: bool) -> str:
    """Why `address` may not be posted to, or "" when it may."""
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    if address in METADATA:
        return "the instance metadata service"
    if address.is_global or private_ok:
        return ""
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    return "not a public address"


def check(url: str, settings: Settings, field: str = "callback_url") -> str:
    """`url` if it may be posted to; else UnsafeCallback naming the field and why."""
    parts = urllib.parse.urlsplit(url)
    schemes = ("https", "http") if settings.allow_http_callbacks else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise UnsafeCallback(f"{field}: must be an {' or '.join(schemes)} URL")
    if parts.username or parts.password:
        raise UnsafeCallback(f"{field}: must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise UnsafeCallback(f"{field}: {parts.hostname} does not resolve") from exc
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        why = _refusal(address, settings.allow_private_callbacks)
        if why:
            raise UnsafeCallback(f"{field}: {parts.hostname} is {why} ({address})")
    return url


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is the answer: its Location is never visited


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str], settings: Settings,
         timeout: float) -> int:
    """POST `body` to `url` (checked again: DNS may have changed) within `timeout`
    seconds; returns the HTTP status, a redirect's included."""
    check(url, settings)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:  # nosec B310: checked above
            return int(response.status)
    except urllib.error.HTTPError as exc:  # 3xx (not followed), 4xx, 5xx
        return int(exc.code)
