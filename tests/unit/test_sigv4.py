"""The local API's SigV4 check (daskyard/local/gateway.py) against botocore's signer:
what botocore signs verifies; any change to what was signed does not."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from daskyard.local.gateway import SignatureRefused, verify

ARN = "arn:aws:iam::123456789012:user/alice"
KEYS = {"AKIAALICE0000000000A": (ARN, "s" * 40)}
BODY = b'{"name": "demo"}'


def lookup(key_id: str) -> tuple[str, str] | None:
    return KEYS.get(key_id)


def signed(method: str = "POST", path: str = "/clusters", body: bytes = BODY,
           secret: str = "s" * 40, at: float | None = None,
           service: str = "execute-api") -> dict[str, str]:
    request = AWSRequest(method=method, url=f"http://127.0.0.1:8000{path}", data=body,
                         headers={"Content-Type": "application/json"})
    when = datetime.fromtimestamp(time.time() if at is None else at, UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(Credentials("AKIAALICE0000000000A", secret), service, "us-east-1").add_auth(
            request)
    return {**dict(request.headers), "Host": "127.0.0.1:8000"}


def test_a_botocore_signature_verifies_to_the_users_arn() -> None:
    assert verify("POST", "/clusters", signed(), BODY, lookup) == ARN
    assert verify("GET", "/clusters?x=1", signed("GET", "/clusters?x=1", b""), b"",
                  lookup) == ARN


@pytest.mark.parametrize(("case", "message"), [
    ("no header", "Missing Authentication Token"),
    ("other body", "does not match"),
    ("other path", "does not match"),
    ("other method", "does not match"),
    ("wrong secret", "does not match"),
    ("unknown key", "invalid"),
    ("old", "expired"),
    ("other service", "scoped to execute-api"),
])
def test_anything_not_as_signed_is_refused(case: str, message: str) -> None:
    headers, method, path, body = signed(), "POST", "/clusters", BODY
    if case == "no header":
        headers.pop("Authorization")
    elif case == "other body":
        body = b'{"name": "evil"}'
    elif case == "other path":
        path = "/clusters/demo"
    elif case == "other method":
        method = "PUT"
    elif case == "wrong secret":
        headers = signed(secret="t" * 40)
    elif case == "unknown key":
        headers["Authorization"] = headers["Authorization"].replace("AKIAALICE", "AKIAOTHER")
    elif case == "old":
        headers = signed(at=time.time() - 301)
    elif case == "other service":
        headers = signed(service="s3")
    with pytest.raises(SignatureRefused, match=message):
        verify(method, path, headers, body, lookup)
