"""Shared secrets and HMAC signatures for webhooks (requests in, callbacks out).

The scheme follows Slack's, so one recipe serves both directions:
`X-Daskyard-Signature: v1=<hex HMAC-SHA256(secret, "v1:<timestamp>:" + body)>`
with `X-Daskyard-Timestamp: <unix seconds>`, accepted within a 5-minute window. The
timestamp has one spelling (chalicelib.core.numbers): the text signed is the header as
sent, so a request cannot be re-spelled ("0<ts>", "+<ts>", "1_7...") into one that
verifies yet looks new to the replay check.

Incoming webhooks may name their key with `X-Daskyard-Key-Id` (the caller becomes
`webhook:<key id>`): the stage's webhook secret is then a JSON object of key id ->
key. A plain-string secret is the one key "default"."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping

from chalicelib.core.aws import Clients
from chalicelib.core.errors import InvalidRequest, Unauthorized
from chalicelib.core.numbers import whole_number

SIGNATURE_HEADER = "X-Daskyard-Signature"
TIMESTAMP_HEADER = "X-Daskyard-Timestamp"
KEY_ID_HEADER = "X-Daskyard-Key-Id"
DEFAULT_KEY_ID = "default"
KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
REPLAY_WINDOW = 300  # seconds
SECRET_MAX_AGE = 300  # seconds a fetched secret is reused by this container
TIMESTAMP_DIGITS = 12  # unix seconds until the year 33658


def secret(clients: Clients, secret_id: str) -> str:
    value = clients.secret_store.get(secret_id, max_age=SECRET_MAX_AGE)
    if not isinstance(value, str) or not value:
        raise Unauthorized("signing secret is not configured")
    return value


def webhook_key(clients: Clients, secret_id: str, headers: Mapping[str, str]) -> \
        tuple[str, str]:
    """(key id, key) for the key the request names; Unauthorized for an unknown one."""
    key_id = headers.get(KEY_ID_HEADER) or DEFAULT_KEY_ID
    if not KEY_ID.fullmatch(key_id):
        raise Unauthorized(f"{KEY_ID_HEADER}: not a key id")
    value = secret(clients, secret_id)
    try:
        keys = json.loads(value) if value.lstrip().startswith("{") else None
    except ValueError:
        keys = None
    if not isinstance(keys, dict):
        keys = {DEFAULT_KEY_ID: value}
    key = keys.get(key_id)
    if not isinstance(key, str) or not key:
        raise Unauthorized(f"{KEY_ID_HEADER}: no key {key_id!r} on this stage")
    return key_id, key


def sign(key: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key.encode(), f"v1:{timestamp}:".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signed_headers(key: str, body: bytes, at: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if at is None else at)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(key, timestamp, body),
            "Content-Type": "application/json"}


def fresh(raw: str, header: str, at: float | None = None) -> int:
    """The timestamp a request was signed at, or Unauthorized when it is not a unix time
    or outside the replay window (Slack's requests and ours alike)."""
    try:
        timestamp = whole_number(raw, header, TIMESTAMP_DIGITS)
    except InvalidRequest as exc:
        raise Unauthorized(f"{header}: not a unix time") from exc
    if abs((time.time() if at is None else at) - timestamp) > REPLAY_WINDOW:
        raise Unauthorized(f"{header}: outside the {REPLAY_WINDOW} s window")
    return timestamp


def verify(key: str, headers: Mapping[str, str], body: bytes, at: float | None = None) -> \
        tuple[int, str]:
    """(timestamp, signature) of a body signed with `key` within the replay window, the
    pair that identifies the request for the replay check; else Unauthorized."""
    raw_ts, given = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
    if not raw_ts or not given:
        raise Unauthorized(f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required")
    timestamp = fresh(raw_ts, TIMESTAMP_HEADER, at)
    # A number's one spelling: str(timestamp) is the header's text, so what is signed is
    # exactly what was checked.
    if not hmac.compare_digest(sign(key, timestamp, body), given):
        raise Unauthorized(f"{SIGNATURE_HEADER}: does not match the body")
    return timestamp, given
