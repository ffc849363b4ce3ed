"""Posting to URLs that requests hand us (a webhook's callback_url, Slack's response_url)
without letting them turn the Lambda inward: only http(s) to public addresses, checked
after DNS resolution when the request comes and again when posting, and the post goes
to the address that was checked (a name that resolves anew to 169.254.169.254 between
the check and the connection, DNS rebinding, is not asked again); TLS still verifies
the certificate for the URL's host name. No redirects followed; every post bounded by
a deadline. A stage may allow private addresses (local mode, whose receivers are on
127.0.0.1); the cloud metadata service never is."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.parse
from typing import Any

from chalicelib.core.errors import InvalidRequest
from chalicelib.core.settings import Settings

# The instance metadata service (IPv4 and IPv6): credentials live there.
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeCallback(InvalidRequest):
    """A callback URL that is not http(s), carries credentials, or reaches an address
    that is not public."""


# NAT64 prefixes (RFC 6052, RFC 8215): the well-known one is used as a /96; an operator's
# local-use prefix is 64:ff9b:1::/48 or longer, and where it ends says where the IPv4
# address sits, so every length it may have is decoded. Local use is never public.
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
NAT64 = ((ipaddress.ip_network("64:ff9b::/96"), (96,)), (LOCAL_NAT64, (48, 56, 64, 96)))
COMPATIBLE = ipaddress.ip_network("::/96")  # IPv4-compatible (deprecated): ::a.b.c.d
TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT's IPv4-translated


def _nat64(address: ipaddress.IPv6Address, length: int) -> ipaddress.IPv4Address:
    """The IPv4 address after a NAT64 prefix of `length` bits (RFC 6052 section 2.2:
    bits 64-71, the "u" octet, are skipped)."""
    octets = address.packed[:8] + address.packed[9:]
    start = length // 8 - (length > 64)  # a /96 prefix holds the u octet itself
    return ipaddress.IPv4Address(octets[start:start + 4])


def _embedded(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches through a transition mechanism:
    mapped, compatible and translated forms, NAT64, 6to4 and Teredo (its server, and its
    client, whose address is stored inverted)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo:
        found += address.teredo
    if (address in COMPATIBLE and int(address) > 1) or address in TRANSLATED:  # not :: or ::1
        found.append(ipaddress.IPv4Address(address.packed[12:]))
    for network, lengths in NAT64:
        if address in network:
            found += [_nat64(address, length) for length in lengths]
    return found


def _refusal(address: Address, private_ok: bool) -> str:
    """Why `address` may not be posted to, or "" when it may. An IPv4 address inside an
    IPv6 one is what the packets reach, so it is checked first: Python's ipaddress calls
    ::127.0.0.1 and 64:ff9b::a9fe:a9fe global."""
    if address in LOCAL_NAT64 and not private_ok:
        return "a local-use NAT64 address"
    for inner in _embedded(address):
        why = _refusal(inner, private_ok)
        if why:
            return f"{why} ({inner} inside an IPv6 address)"
    if address in METADATA:
        return "the instance metadata service"
    if address.is_global or private_ok:
        return ""
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    return "not a public address"


def _resolve(url: str, settings: Settings, field: str) -> \
        tuple[urllib.parse.SplitResult, int, str]:
    """The URL's parts, port and the address to connect to, once every address its host
    resolves to may be posted to; else UnsafeCallback naming the field and why."""
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
    addresses = [str(sockaddr[0]).split("%", 1)[0] for *_, sockaddr in found]
    for text in addresses:
        address = ipaddress.ip_address(text)
        why = _refusal(address, settings.allow_private_callbacks)
        if why:
            raise UnsafeCallback(f"{field}: {parts.hostname} is {why} ({address})")
    return parts, port, addresses[0]


def check(url: str, settings: Settings, field: str = "callback_url") -> str:
    """`url` if it may be posted to; else UnsafeCallback naming the field and why."""
    _resolve(url, settings, field)
    return url


def _connection(parts: urllib.parse.SplitResult, port: int, address: str,
                timeout: float) -> http.client.HTTPConnection:
    """A connection to `address` speaking for the URL's host: its Host header, and over
    TLS its SNI and the certificate checked against it."""
    host = parts.hostname or ""
    connection = http.client.HTTPSConnection(
        host, port, timeout=timeout, context=ssl.create_default_context()) \
        if parts.scheme == "https" else http.client.HTTPConnection(host, port, timeout=timeout)

    def pinned(_: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        return socket.create_connection((address, port), *args, **kwargs)

    connection._create_connection = pinned  # type: ignore[attr-defined]
    return connection


def post(url: str, body: bytes, headers: dict[str, str], settings: Settings,
         timeout: float) -> int:
    """POST `body` to `url` (checked again: DNS may have changed, and this post goes to
    the address checked now) within `timeout` seconds; returns the HTTP status. A
    redirect is an answer like any other: its Location is never visited."""
    parts, port, address = _resolve(url, settings, "callback_url")
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    connection = _connection(parts, port, address, timeout)
    try:
        connection.request("POST", target, body=body, headers=headers)
        return int(connection.getresponse().status)
    finally:
        connection.close()
