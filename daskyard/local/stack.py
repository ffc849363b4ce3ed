"""Local mode as one object: the emulator, the app deployed into it, the ECS agent."""

from __future__ import annotations

import importlib
import os
import threading
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from daskyard.local import inventory
from daskyard.local.agent import EcsAgent, NullRunner, ProcessRunner, Runner
from daskyard.local.deploy import Deployment, deploy
from daskyard.local.emulator import Emulator, LambdaRouter

LOCAL_ENV = {"POWERTOOLS_LOG_LEVEL": "WARNING",
             # No X-Ray daemon and no CloudWatch here: traces and EMF metrics off.
             "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
             # Emulator credentials: never real ones, so nothing reaches AWS by mistake.
             "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105  # emulator's fake keys
             "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",  # nosec B105  # emulator's fake token
             "AWS_REGION": "us-east-1"}


def load_app() -> ModuleType:
    return importlib.import_module("app")


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "daskyard"


def wait_execution(clients: Clients, arn: str, timeout: float = 120) -> dict[str, Any]:
    """The execution's description once it has ended (tests and benchmarks wait on it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = clients.sfn.describe_execution(executionArn=arn)
        if out["status"] != "RUNNING":
            return dict(out)
        time.sleep(0.05)
    raise TimeoutError(f"{arn} still running after {timeout}s")


class AlreadyRunning(RuntimeError):
    """moto keeps its state per process: two local modes in one process would share
    one emulator's state and fight over its ECS services."""


class LocalMode:
    """`with LocalMode() as local:` starts everything; leaving stops it all.
    One per process (see AlreadyRunning)."""

    _running: LocalMode | None = None

    def __init__(self, processes: bool = True, time_scale: float = 1.0, port: int = 0,
                 root: Path | None = None) -> None:
        os.environ.update(LOCAL_ENV)
        self.app = load_app()
        # The Lambdas' logger may exist from before the environment was set (an import
        # of chalicelib): give it the level local mode runs at.
        from chalicelib.core.observability import logger

        logger.setLevel(LOCAL_ENV["POWERTOOLS_LOG_LEVEL"])
        self.router = LambdaRouter(self.app)
        self.emulator = Emulator(self.router, port=port)
        self.time_scale = time_scale
        self.root = root or data_dir()
        self.runner: Runner = ProcessRunner(self.root / "logs") if processes else NullRunner()
        self.agent: EcsAgent | None = None
        self.api_url = ""
        self._api: Any = None
        self.deployment: Deployment | None = None
        self.clients: Clients | None = None

    def start(self) -> LocalMode:
        if LocalMode._running is not None:
            raise AlreadyRunning("a local mode is already running in this process")
        LocalMode._running = self
        try:
            self.emulator.start()
            self.deploy()
        except BaseException:
            self.stop()
            raise
        return self

    def deploy(self) -> None:
        from chalicelib.core.runtime import runtime

        self.clients = Clients(endpoint_url=self.emulator.url)
        self.deployment = deploy(self.clients, self.app, time_scale=self.time_scale)
        runtime.cache_clear()  # the handlers read the environment deploy just set
        self.agent = EcsAgent(self.clients, self.runner, self.root / "efs").start()

    def reset(self, processes: bool | None = None) -> None:
        """A clean emulator with the app deployed afresh (between tests); `processes`
        switches between real entrypoint processes and control-plane-only tasks."""
        if self.agent:
            self.agent.stop()
        if processes is not None:
            self.runner = ProcessRunner(self.root / "logs") if processes else NullRunner()
        self.router.interceptor = None
        self.router.invocations.clear()
        self.emulator.reset()
        self.deploy()

    def leftovers(self, cluster: str, settle: float = 0) -> list[str]:
        """What is left of a cluster: in the emulator (listed per service) and as tasks
        of the agent, waiting up to `settle` seconds for them to go, as ECS stops a
        deleted service's tasks a moment after the delete."""
        assert self.clients is not None and self.agent is not None
        deadline = time.monotonic() + settle
        while True:
            found = inventory.leftovers(self.clients, cluster) + [
                task.arn for role in naming.ROLES
                for task in self.agent.running(naming.service(cluster, role))]
            if not found or time.monotonic() >= deadline:
                return found
            time.sleep(0.2)

    def serve_api(self, port: int = 0) -> str:
        """The app's HTTP API on 127.0.0.1, served by Chalice's own local server."""
        from chalice.config import Config
        from chalice.local import ChaliceRequestHandler, LocalDevServer, ThreadedHTTPServer

        class Server(ThreadedHTTPServer):
            request_queue_size = 128  # bursts of clients, as API Gateway would take
            daemon_threads = True

        class QuietHandler(ChaliceRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # one line per request
                pass

        config = Config.create(chalice_app=self.app.app, chalice_stage="local",
                               app_name="daskyard")
        # Chalice warns on each request that IAM auth is skipped: it is for deployed stages.
        warnings.filterwarnings("ignore", message="IAMAuthorizer is not a supported")
        self._api = LocalDevServer(self.app.app, config, "127.0.0.1", port,
                                   handler_cls=QuietHandler, server_cls=Server)
        threading.Thread(target=self._api.server.serve_forever, name="api", daemon=True).start()
        self.api_url = f"http://127.0.0.1:{self._api.server.server_address[1]}"
        return self.api_url

    def stop(self) -> None:
        if self._api is not None:
            self._api.shutdown()
            self._api = None
        if self.agent:
            self.agent.stop()
            self.agent = None
        self.emulator.stop()
        if LocalMode._running is self:
            LocalMode._running = None

    def __enter__(self) -> LocalMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
