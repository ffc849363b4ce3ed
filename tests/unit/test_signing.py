"""Webhook signatures (chalicelib.core.signing): HMAC-SHA256 over "v1:<ts>:" + body,
accepted within a 5-minute window."""

from __future__ import annotations

import hashlib
import hmac

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


def in_script(digits: str, zero: int) -> str:
    """`digits` written with another script's digits (`zero`: its digit zero)."""
    return "".join(chr(zero + int(d)) for d in digits)


# Each one int() reads as AT: re-spelled, a request passed the signature and looked new
# to the replay check.
RESPELLED = ["0" + str(AT), "00" + str(AT), "+" + str(AT), "1_700_000_000", " " + str(AT),
             str(AT) + " ", str(AT) + "\n", "\t" + str(AT),
             in_script(str(AT), 0x660), in_script(str(AT), 0xFF10)]  # Arabic-Indic, fullwidth


@pytest.mark.parametrize("raw", ["", "soon", "1.7e9", "0x10", "-1", "1" * 13, *RESPELLED])
def test_a_timestamp_that_is_not_a_unix_time_is_refused(raw: str) -> None:
    with pytest.raises(Unauthorized, match="X-Daskyard-Timestamp: not a unix time"):
        signing.fresh(raw, "X-Daskyard-Timestamp", at=AT)


@pytest.mark.parametrize("raw", RESPELLED)
def test_a_re_spelled_timestamp_is_refused_even_signed_as_sent(raw: str) -> None:
    """Whether the sender signed the canonical time or the re-spelled text."""
    for signed_text in (str(AT), raw):
        mac = hmac.new(KEY.encode(), f"v1:{signed_text}:".encode() + BODY, hashlib.sha256)
        headers = {"X-Daskyard-Timestamp": raw, "X-Daskyard-Signature": "v1=" + mac.hexdigest()}
        with pytest.raises(Unauthorized, match="X-Daskyard-Timestamp: not a unix time"):
            signing.verify(KEY, headers, BODY, at=AT)


def test_verify_gives_the_replay_key_the_parsed_time_and_the_signature() -> None:
    headers = signing.signed_headers(KEY, BODY, at=AT)
    assert signing.verify(KEY, headers, BODY, at=AT) == (AT, EXPECTED)


@pytest.mark.parametrize("signature", [EXPECTED.upper(), "V1=" + EXPECTED[3:], " " + EXPECTED,
                                       EXPECTED + " ", EXPECTED[3:]])
def test_a_re_spelled_signature_is_refused(signature: str) -> None:
    headers = {**signing.signed_headers(KEY, BODY, at=AT), "X-Daskyard-Signature": signature}
    with pytest.raises(Unauthorized, match="does not match the body"):
        signing.verify(KEY, headers, BODY, at=AT)
