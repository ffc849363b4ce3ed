"""A small client for the Daskyard HTTP API. Every request is signed with SigV4, as the
API takes IAM authorization only: with the user's AWS credentials for a deployed API,
with the keys `daskyard serve --local` wrote (see credentials.py) for a local one."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urlparse

import requests

from daskyard import credentials


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_API = "http://127.0.0.1:8000"  # `daskyard serve --local`


class DaskyardApi:
    """`local` holds the keys for a local API; by default they are looked up for a
    loopback URL, and a deployed API is signed with the user's AWS credentials."""

    def __init__(self, url: str, timeout: float = 30,
                 local: credentials.LocalCredentials | None = None) -> None:
        self.url = url.rstrip("/")
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ApiError(0, f"the API URL must be http(s)://host[:port][/stage], "
                              f"not {url!r}")
        self.is_local = parsed.hostname in LOOPBACK
        self.local = local or (credentials.load(self.url) if self.is_local else None)
        self.timeout = timeout
        self.session = requests.Session()

    def _signed_headers(self, method: str, url: str, body: str | None) -> dict[str, str]:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        if self.local is not None:
            keys: Any = Credentials(self.local.access_key_id, self.local.secret_access_key)
            region = self.local.region
        elif self.is_local:
            raise ApiError(0, f"no local credentials for {self.url} in "
                              f"{credentials.default_path()}: they are written by "
                              "`daskyard serve --local` (or set DASKYARD_CREDENTIALS)")
        else:
            session = boto3.session.Session()
            keys = session.get_credentials()
            region = session.region_name or "us-east-1"
            if keys is None:
                raise ApiError(0, "no AWS credentials to sign the request with")
        request = AWSRequest(method=method, url=url, data=body or "",
                             headers={"Content-Type": "application/json"})
        SigV4Auth(keys, "execute-api", region).add_auth(request)
        return dict(request.headers)

    def _reachable(self) -> None:
        parsed = urlparse(self.url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname, port), timeout=2).close()
        except OSError as exc:
            raise ApiError(0, f"cannot reach {self.url}: is the API running?") from exc

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.url}{path}"
        if self.is_local and self.local is None:
            self._reachable()  # "not running" says more than "no credentials for it"
        data = json.dumps(body) if body is not None else None
        headers = self._signed_headers(method, url, data)
        try:
            response = self.session.request(method, url, data=data, headers=headers,
                                            timeout=self.timeout)
        except requests.ConnectionError as exc:
            raise ApiError(0, f"cannot reach {self.url}: is the API running?") from exc
        payload = response.json() if response.content else {}
        if response.status_code >= 400:
            raise ApiError(response.status_code,
                           payload.get("error") or payload.get("message")
                           or payload.get("Message") or response.text)
        return payload

    def create(self, spec: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", "/clusters", spec))

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/clusters/{name}"))

    def credentials(self, name: str) -> dict[str, Any]:
        """The scheduler's address, the cluster's CA, a client certificate and key, and
        the Jupyter token (None without a notebook). Keep them out of logs and output."""
        return dict(self.call("GET", f"/clusters/{name}/credentials"))

    def logs(self, name: str, role: str | None = None, since: int | None = None,
             limit: int | None = None, next_token: str | None = None) -> dict[str, Any]:
        """One page of what the cluster's tasks printed, oldest first: {"events":
        [{"timestamp" (ms), "time", "role", "task", "id", "message"}], "next_token"}."""
        query = {k: str(v) for k, v in (("role", role), ("since", since), ("limit", limit),
                                         ("next_token", next_token)) if v is not None}
        path = f"/clusters/{name}/logs" + (f"?{urlencode(query)}" if query else "")
        return dict(self.call("GET", path))

    def log_lines(self, name: str, role: str | None = None, since: int | None = None,
                  max_pages: int = 50) -> list[dict[str, Any]]:
        """Every line from `since` on (at most `max_pages` pages of the API's bound)."""
        events: list[dict[str, Any]] = []
        token = None
        for _ in range(max_pages):
            page = self.logs(name, role=role, since=since, next_token=token)
            events += page["events"]
            token = page.get("next_token")
            if not token:
                break
        return events

    def follow(self, name: str, role: str | None = None, poll: float = 1.0
               ) -> Iterator[dict[str, Any]]:
        """Every line, then each new one as it comes, once each (`aws logs tail
        --follow` likewise polls from the latest timestamp and skips what it showed)."""
        since: int | None = None
        seen: set[str] = set()  # lines at the latest timestamp, already given
        while True:
            for event in self.log_lines(name, role, since):
                if event["id"] in seen:
                    continue
                if since is None or event["timestamp"] > since:
                    since, seen = event["timestamp"], set()
                seen.add(event["id"])
                yield event
            time.sleep(poll)

    def events(self, name: str) -> dict[str, Any]:
        """The steps of the cluster's latest execution: name, type, start, end (ISO
        times), outcome, attempts, error; in the order the states were entered."""
        return dict(self.call("GET", f"/clusters/{name}/events"))

    def drive(self, name: str) -> dict[str, Any]:
        """A named drive's owner and shares (its owner's or an admin's call)."""
        return dict(self.call("GET", f"/drives/{name}"))

    def share_drive(self, name: str, principals: list[str]) -> dict[str, Any]:
        """Whom the drive is shared with, replaced: they may name it in a create, and
        their clusters get a root of their own on it."""
        return dict(self.call("PUT", f"/drives/{name}/shares", {"principals": principals}))

    def doctor(self) -> dict[str, Any]:
        """The stage's preflight (admins only): {"stage", "region", "ok", "checks":
        [{"name", "status" (OK, WARN, FAIL), "figure", "advice", "default"}]}."""
        return dict(self.call("GET", "/doctor"))

    def list(self, status: str | None = None, page_size: int = 100) -> list[dict[str, Any]]:
        """Every cluster the caller may see (in `status`, comma-separated, when given),
        following the API's next_token page by page."""
        clusters: list[dict[str, Any]] = []
        query = {"limit": str(page_size), **({"status": status} if status else {})}
        while True:
            page = self.call("GET", "/clusters?" + urlencode(query))
            clusters += page["clusters"]
            if not page.get("next_token"):
                return clusters
            query["next_token"] = page["next_token"]

    def scale(self, name: str, workers: int) -> dict[str, Any]:
        return dict(self.call("PUT", f"/clusters/{name}/workers", {"workers": workers}))

    def adapt(self, name: str, minimum: int | None, maximum: int | None) -> dict[str, Any]:
        """Adaptive scaling between the bounds, carried out by the cluster itself;
        None for both turns it off."""
        return dict(self.call("PUT", f"/clusters/{name}/adapt",
                              {"minimum": minimum, "maximum": maximum}))

    def adapt_with(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Adaptive scaling with distributed's options: {"minimum", "maximum" (None: the
        stage's maximum, as the quota allows), "interval", "wait_count",
        "target_duration" (seconds)}."""
        return dict(self.call("PUT", f"/clusters/{name}/adapt", body))

    def delete(self, name: str) -> dict[str, Any]:
        return dict(self.call("DELETE", f"/clusters/{name}"))

    def wait(self, name: str, statuses: set[str], timeout: float = 900,
             on_change: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Poll the record until its status is one of `statuses` (the API has no push;
        this is the client's view, the orchestrator itself never polls)."""
        deadline = time.monotonic() + timeout
        seen: tuple[str, str] | None = None
        while True:
            record = self.get(name)
            key = (record["status"], record["step"])
            if key != seen and on_change:
                on_change(record)
            seen = key
            if record["status"] in statuses:
                return record
            if time.monotonic() > deadline:
                raise ApiError(0, f"{name} is still {record['status']} after {timeout:.0f}s")
            time.sleep(0.2)
