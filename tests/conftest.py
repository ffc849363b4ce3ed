"""Shared fixtures. One emulator (a real moto server on 127.0.0.1) per test session;
each test gets it reset, with the app deployed afresh."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.core.aws import Clients
from chalicelib.core.models import ClusterSpec, Status
from chalicelib.core.runtime import Runtime, runtime
from daskyard.local.stack import LocalMode

# Waits and retry intervals in the ASL are scaled by this in tests (never below 1 s).
TIME_SCALE = 0.1


@pytest.fixture(scope="session")
def local_mode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMode]:
    local = LocalMode(processes=False, time_scale=TIME_SCALE,
                      root=tmp_path_factory.mktemp("daskyard"))
    local.start()
    yield local
    local.stop()


@pytest.fixture
def stack(local_mode: LocalMode) -> Iterator[LocalMode]:
    local_mode.reset()
    yield local_mode
    local_mode.router.interceptor = None


@pytest.fixture
def rt(stack: LocalMode) -> Runtime:
    return runtime()


@pytest.fixture
def clients(stack: LocalMode) -> Clients:
    assert stack.clients is not None
    return stack.clients


def spec(name: str = "demo", **kw: Any) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": name, "workers": 2,
                                       "allowed_cidrs": ["10.1.0.0/16"], **kw})


def wait_status(rt: Runtime, name: str, statuses: set[Status], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = rt.registry.get(name)
        if record and record.status in statuses:
            return record
        time.sleep(0.1)
    raise TimeoutError(f"{name} not in {statuses} after {timeout}s: {rt.registry.get(name)}")


def history(clients: Clients, arn: str) -> list[dict[str, Any]]:
    return list(clients.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"])


def fixture_json(name: str) -> dict[str, Any]:
    return dict(json.loads((Path(__file__).parent / "fixtures" / name).read_text()))


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that records what is posted to it (a Slack
    response_url or a webhook callback_url)."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.posts: list[tuple[dict[str, str], bytes]] = []
        posts = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                posts.append((dict(self.headers), self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, timeout: float = 60) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.posts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def http(stack: LocalMode) -> Iterator[Any]:
    """chalice.test.Client on the real app."""
    from chalice.test import Client

    with Client(stack.app.app) as c:
        yield c.http


RELIABILITY: list[str] = []


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Any:
    """Report "N faults, N recovered, 0 resources leaked" for a reliability test."""

    def report(faults: int, recovered: int, leaked: int) -> None:
        RELIABILITY.append(f"{request.node.name}: {faults} faults, {recovered} recovered, "
                           f"{leaked} resources leaked")
        assert recovered == faults and leaked == 0, RELIABILITY[-1]

    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if RELIABILITY:
        terminalreporter.section("reliability")
        for line in RELIABILITY:
            terminalreporter.write_line(line)


@pytest.fixture
def live(local_mode: LocalMode) -> Iterator[LocalMode]:
    """The emulator with real entrypoint processes (real dask) and the HTTP API up;
    back to control-plane-only tasks afterwards. One local mode per process: moto's
    state is per process."""
    local_mode.reset(processes=True)
    if not local_mode.api_url:
        local_mode.serve_api()
    yield local_mode
    local_mode.reset(processes=False)
