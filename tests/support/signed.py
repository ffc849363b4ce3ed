"""chalice.test's HTTP client, served through the local IAM gateway and signing each
request with SigV4 as one IAM user of the emulator: the functional tests reach the
routes exactly as the local API (and API Gateway) would let them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from daskyard.local.deploy import user_keys
from daskyard.local.gateway import IamGateway
from daskyard.local.stack import LocalMode


class SignedHttp:
    def __init__(self, http: Any, stack: LocalMode, keys: tuple[str, str, str] | None) -> None:
        self.http, self.stack, self.keys = http, stack, keys
        assert stack.emulator is not None
        http._local_gateway = IamGateway(http._app, http._config, stack.emulator.access_key)

    @property
    def arn(self) -> str:
        return self.keys[0] if self.keys else ""

    @property
    def owner(self) -> str:
        """The owner this client's requests have: its IAM user's unique id."""
        found = self.stack.emulator.access_key(self.keys[1]) if self.keys else None
        return found[2] if found else ""

    def as_user(self, name: str) -> SignedHttp:
        """The same client, signing as IAM user `name` (made, with a fresh key, if new)."""
        assert self.stack.clients is not None
        return SignedHttp(self.http, self.stack, user_keys(self.stack.clients, name))

    def unsigned(self) -> SignedHttp:
        return SignedHttp(self.http, self.stack, None)

    def headers_for(self, method: str, path: str, headers: dict[str, str] | None = None,
                    body: bytes | str = b"", at: datetime | None = None,
                    region: str = "us-east-1") -> dict[str, str]:
        """The headers this client sends, signed (as at `at`, default now, in `region`)
        if it has keys."""
        headers = {"host": "localhost", **(headers or {})}
        if self.keys is None:
            return headers
        _, key_id, secret = self.keys
        signed = AWSRequest(method=method, url=f"http://localhost{path}", data=body,
                            headers=headers)
        with mock.patch("botocore.auth.get_current_datetime",
                        return_value=at or datetime.now(UTC).replace(tzinfo=None)):
            SigV4Auth(Credentials(key_id, secret), "execute-api", region).add_auth(signed)
        return dict(signed.headers)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes | str = b"") -> Any:
        return self.http.request(method, path, body=body,
                                 headers=self.headers_for(method, path, headers, body))

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)
