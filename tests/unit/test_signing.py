"""Webhook signatures (chalicelib.core.signing): HMAC-SHA256 over "v1:<ts>:" + body,
accepted within a 5-minute window."""

from __future__ import annotations

import pytest

from chalicelib.core import signing
from chalicelib.core.errors import Unauthorized

KEY = "s3cret"
BODY = b'{"action":"destroy","name":"demo"}'
AT = 1_700_000_000
# openssl: printf 'v1:1700000000:<BODY>' | openssl dgst -sha256 -hmac s3cret
EXPECTED = "v1=e47744a44bc2d5491cd47f62e66db12887431e1c7289c813cb1c346cfbb5e12f"


def test_sign_matches_an_independent_hmac() -> None:
    assert signing.sign(KEY, AT, BODY) == EXPECTED


def test_signed_headers_verify() -> None:
    headers = signing.signed_headers(KEY, BODY, at=AT)
    assert headers == {"X-Daskyard-Timestamp": "1700000000", "X-Daskyard-Signature": EXPECTED,
                       "Content-Type": "application/json"}
    signing.verify(KEY, headers, BODY, at=AT + 10)


def test_a_tampered_body_is_refused() -> None:
    headers = signing.signed_headers(KEY, BODY, at=AT)
    with pytest.raises(Unauthorized, match="does not match the body"):
        signing.verify(KEY, headers, BODY.replace(b"demo", b"prod"), at=AT)


def test_another_key_is_refused() -> None:
    headers = signing.signed_headers("not-the-key", BODY, at=AT)
    with pytest.raises(Unauthorized, match="does not match the body"):
        signing.verify(KEY, headers, BODY, at=AT)


def test_a_signature_moved_to_another_time_is_refused() -> None:
    headers = {**signing.signed_headers(KEY, BODY, at=AT), "X-Daskyard-Timestamp": str(AT + 1)}
    with pytest.raises(Unauthorized, match="does not match the body"):
        signing.verify(KEY, headers, BODY, at=AT)


@pytest.mark.parametrize("missing", ["X-Daskyard-Timestamp", "X-Daskyard-Signature"])
def test_both_headers_are_required(missing: str) -> None:
    headers = signing.signed_headers(KEY, BODY, at=AT)
    del headers[missing]
    with pytest.raises(Unauthorized, match="headers are required"):
        signing.verify(KEY, headers, BODY, at=AT)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_fresh_within_the_window(offset: int) -> None:
    assert signing.fresh(str(AT), "X-Daskyard-Timestamp", at=AT + offset) == AT


@pytest.mark.parametrize("offset", [-301, 301, 86_400])
def test_outside_the_window_is_refused(offset: int) -> None:
    with pytest.raises(Unauthorized, match="outside the 300 s window"):
        signing.fresh(str(AT), "X-Daskyard-Timestamp", at=AT + offset)
    headers = signing.signed_headers(KEY, BODY, at=AT)
    with pytest.raises(Unauthorized, match="outside the 300 s window"):
        signing.verify(KEY, headers, BODY, at=AT + offset)


@pytest.mark.parametrize("raw", ["", "soon", "1.7e9", "0x10"])
def test_a_timestamp_that_is_not_a_unix_time_is_refused(raw: str) -> None:
    with pytest.raises(Unauthorized, match="X-Daskyard-Timestamp: not a unix time"):
        signing.fresh(raw, "X-Daskyard-Timestamp", at=AT)
