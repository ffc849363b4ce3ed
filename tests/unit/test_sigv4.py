"""The local API's SigV4 check (daskyard/local/gateway.py) against botocore's signer:
what botocore signs verifies; any change to what was signed does not."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from daskyard.local.gateway import SignatureRefused, verify

ARN = "arn:aws:iam::123456789012:user/alice"
USER_ID = "AIDAALICE00000000000"
KEYS = {"AKIAALICE0000000000A": (ARN, "s" * 40, USER_ID)}
BODY = b'{"name": "demo"}'


def lookup(key_id: str) -> tuple[str, str, str] | None:
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


def test_a_botocore_signature_verifies_to_the_users_arn_and_id() -> None:
    assert verify("POST", "/clusters", signed(), BODY, lookup) == (ARN, USER_ID)
    assert verify("GET", "/clusters?x=1", signed("GET", "/clusters?x=1", b""), b"",
                  lookup).arn == ARN


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


def signed_with(headers: dict[str, str], body: bytes = BODY, region: str = "us-east-1",
                method: str = "POST", path: str = "/clusters") -> dict[str, str]:
    """Signed by botocore with `headers` among the signed ones (as a client that sends
    X-Amz-Content-Sha256 does), in `region`."""
    request = AWSRequest(method=method, url=f"http://127.0.0.1:8000{path}", data=body,
                         headers={"Content-Type": "application/json", **headers})
    SigV4Auth(Credentials("AKIAALICE0000000000A", "s" * 40), "execute-api",
              region).add_auth(request)
    return {**dict(request.headers), "Host": "127.0.0.1:8000"}


def test_an_unsigned_payload_with_a_body_is_refused_so_a_captured_body_cannot_be_swapped(
        ) -> None:
    headers = signed_with({"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
    assert "x-amz-content-sha256" in headers["Authorization"]  # signed, as botocore does
    for body in (BODY, b'{"name": "someone-elses"}'):
        with pytest.raises(SignatureRefused, match="UNSIGNED-PAYLOAD is not accepted"):
            verify("POST", "/clusters", headers, body, lookup)
    # Without a body there is nothing to swap (GET, DELETE): it verifies.
    get = signed_with({"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}, b"", method="GET")
    assert verify("GET", "/clusters", get, b"", lookup).arn == ARN
    # ...unless a body is added to it.
    with pytest.raises(SignatureRefused, match="UNSIGNED-PAYLOAD"):
        verify("GET", "/clusters", get, BODY, lookup)


def test_a_declared_payload_hash_must_be_the_bodys() -> None:
    """botocore signs the header's value, not the body: a hash of the captured body, sent
    with another body, would otherwise verify."""
    good = signed_with({"X-Amz-Content-Sha256": hashlib.sha256(BODY).hexdigest()})
    assert verify("POST", "/clusters", good, BODY, lookup).arn == ARN
    with pytest.raises(SignatureRefused, match="does not match what was computed"):
        verify("POST", "/clusters", good, b'{"name": "evil"}', lookup)
    streaming = signed_with({"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"})
    with pytest.raises(SignatureRefused, match="does not match"):
        verify("POST", "/clusters", streaming, BODY, lookup)


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-2", "aws-global"])
def test_a_signature_scoped_to_another_region_is_refused_as_api_gateway_does(
        region: str) -> None:
    with pytest.raises(SignatureRefused) as refused:
        verify("POST", "/clusters", signed_with({}, region=region), BODY, lookup)
    assert str(refused.value) == \
        f"Credential should be scoped to a valid region, not '{region}'. "
    assert verify("POST", "/clusters", signed_with({}), BODY, lookup).arn == ARN


@pytest.mark.parametrize("spell", [
    "\uff12\uff10\uff12\uff16",  # fullwidth digits: strptime's %Y takes them
    "\u0662\u0660\u0662\u0666",  # Arabic-Indic
    "\U0001d7d0" "0" "\U0001d7d0" "6",  # mathematical bold two
])
def test_x_amz_date_takes_ascii_digits_only(spell: str) -> None:
    headers = signed()
    real = headers["X-Amz-Date"]
    headers["X-Amz-Date"] = spell + real[4:]
    assert datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")  # Python would
    with pytest.raises(SignatureRefused, match="not a SigV4 timestamp"):
        verify("POST", "/clusters", headers, BODY, lookup)
    for bad in (real[:-1], real + "0", real.replace("T", " "), " " + real, real.lower()):
        headers["X-Amz-Date"] = bad
        with pytest.raises(SignatureRefused):
            verify("POST", "/clusters", headers, BODY, lookup)
