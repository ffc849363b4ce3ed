"""Local mode as one object: the emulator, the app deployed into it, the ECS agent."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from chalicelib.aws import Clients
from daskyard.local.agent import EcsAgent, NullRunner, ProcessRunner, Runner
from daskyard.local.deploy import Deployment, deploy
from daskyard.local.emulator import Emulator, LambdaRouter

ROOT = Path(__file__).resolve().parents[2]
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_REGION": "us-east-1"}


def load_app() -> ModuleType:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("app")


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "daskyard"


class LocalMode:
    """`with LocalMode() as local:` starts everything; leaving stops it all."""

    def __init__(self, processes: bool = True, time_scale: float = 1.0, port: int = 0,
                 root: Path | None = None) -> None:
        os.environ.update(EMULATOR_CREDENTIALS)
        self.app = load_app()
        self.router = LambdaRouter(self.app)
        self.emulator = Emulator(self.router, port=port)
        self.time_scale = time_scale
        self.root = root or data_dir()
        self.runner: Runner = ProcessRunner(self.root / "logs") if processes else NullRunner()
        self.agent: EcsAgent | None = None
        self.deployment: Deployment | None = None
        self.clients: Clients | None = None

    def start(self) -> LocalMode:
        self.emulator.start()
        self.deploy()
        return self

    def deploy(self) -> None:
        from chalicelib.runtime import runtime

        self.clients = Clients(endpoint_url=self.emulator.url)
        self.deployment = deploy(self.clients, self.app, time_scale=self.time_scale)
        runtime.cache_clear()  # the handlers read the environment deploy just set
        self.agent = EcsAgent(self.clients, self.runner, self.root / "efs").start()

    def reset(self) -> None:
        """A clean emulator with the app deployed afresh (between tests)."""
        if self.agent:
            self.agent.stop()
        self.router.interceptor = None
        self.router.invocations.clear()
        self.emulator.reset()
        self.deploy()

    def stop(self) -> None:
        if self.agent:
            self.agent.stop()
            self.agent = None
        self.emulator.stop()

    def __enter__(self) -> LocalMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
