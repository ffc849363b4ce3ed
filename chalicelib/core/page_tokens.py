"""`next_token`s of the cluster list: where a list stopped, opaque and tamper-proof.

A token is the registry's Cursor and the list it belongs to (who asked, which owner and
status), signed with HMAC-SHA256 under a key derived from the stage's webhook secret
(its own purpose, so a token signs nothing else). A token altered, made up, from
another list or another caller, or from before the secret was rotated is refused with a
400: the Query's key condition is the server's own anyway, so a token could at worst
move where a page starts within what the caller may see."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from chalicelib.core.errors import InvalidRequest
from chalicelib.core.registry import Cursor

PURPOSE = b"daskyard list next_token v1"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), PURPOSE, hashlib.sha256).digest()


def _mac(secret: str, scope: str, body: bytes) -> str:
    mac = hmac.new(_key(secret), scope.encode() + b"\0" + body, hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def seal(secret: str, scope: str, cursor: Cursor) -> str:
    body = json.dumps({"p": cursor.part, "k": cursor.key}, separators=(",", ":"),
                      sort_keys=True).encode()
    text = base64.urlsafe_b64encode(body).decode().rstrip("=")
    return f"{text}.{_mac(secret, scope, body)}"


def unseal(secret: str, scope: str, token: str) -> Cursor:
    """The Cursor `seal` put in `token` for this `scope`, or InvalidRequest."""
    bad = InvalidRequest("next_token: not a token of this list (pass the one the "
                         "previous page returned, with the same filters)")
    text, _, mac = token.partition(".")
    if len(token) > 2048 or not text or not mac:
        raise bad
    try:
        body = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise bad from exc
    if not hmac.compare_digest(mac, _mac(secret, scope, body)):
        raise bad
    values = json.loads(body)
    return Cursor(int(values["p"]), values["k"])
