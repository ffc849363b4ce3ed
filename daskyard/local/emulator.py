"""The AWS emulator: a moto server on 127.0.0.1, in this process, with state machine
execution on, and each Lambda invocation (and each event matched to a Lambda target)
routed to the Chalice handler in-process."""

from __future__ import annotations

import copy
import importlib
import json
import logging
import os
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import requests
from chalice.local import LambdaContext

Handler = Callable[[dict[str, Any], Any], Any]
# Tests wrap handlers to inject faults: (function name, event, real handler) -> result.
Interceptor = Callable[[str, dict[str, Any], Handler], Any]

log = logging.getLogger("daskyard.local")
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per emulator request
# The interpreter logs every failed state (expected in rollbacks) with its whole AST.
logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)


class LambdaRouter:
    """Maps a function name (`daskyard-local-<Name>`) to the app's handler."""

    def __init__(self, app_module: ModuleType) -> None:
        self.handlers: dict[str, Handler] = {}
        app = app_module.app
        for fn in [*app.pure_lambda_functions, *app.event_sources]:
            module, _, attribute = fn.handler_string.rpartition(".")
            self.handlers[fn.name] = getattr(importlib.import_module(module), attribute)
        self.interceptor: Interceptor | None = None
        self.invocations: dict[str, int] = {}
        self._lock = threading.Lock()

    def handler_for(self, function_name: str) -> tuple[str, Handler]:
        name = function_name.rsplit(":", 1)[-1].split("-", 2)[-1]
        return name, self.handlers[name]

    def invoke(self, function_name: str, event: dict[str, Any]) -> tuple[str, bool]:
        """Returns (payload JSON, errored) as Lambda would: an exception becomes
        {"errorType": class name, "errorMessage": text}."""
        name, handler = self.handler_for(function_name)
        with self._lock:
            self.invocations[name] = self.invocations.get(name, 0) + 1
        try:
            # Each invocation gets a Lambda context, as Lambda gives one (60 s, as deployed).
            context = LambdaContext(name, memory_size=512, max_runtime_ms=60_000)
            if self.interceptor is not None:
                result = self.interceptor(name, event, lambda e, _: handler(e, context))
            else:
                result = handler(event, context)
            return json.dumps(result), False
        except Exception as exc:
            log.info("lambda %s raised %s: %s", name, type(exc).__name__, exc)
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), True


def _install_routes(router: LambdaRouter) -> None:
    """Point moto's Lambda and EventBridge-to-Lambda delivery at the router."""
    from moto.awslambda.models import LambdaFunction
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    def invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        body = event if isinstance(event, dict) else json.loads(event or "{}")
        payload, errored = router.invoke(self.function_name, body)
        return payload, errored, ""

    original_send = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        ours = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
        if ours and self.event_pattern.matches_event(original_event):
            for target in ours:
                # Delivered at once, in order: the handler copes with any order anyway.
                router.invoke(target["Arn"], dict(original_event))
        rest = copy.copy(self)
        rest.targets = [t for t in self.targets if t not in ours]
        original_send(rest, original_event, transform_input)

    LambdaFunction._invoke_lambda = invoke_lambda  # type: ignore[method-assign]
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


class Emulator:
    """A moto server in this process. `url` is what AWS_ENDPOINT_URL points at."""

    def __init__(self, router: LambdaRouter, port: int = 0) -> None:
        self.router = router
        self.port = port
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Emulator:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port,
                                          verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        self.activate()
        requests.post(f"{self.url}/moto-api/config", timeout=10,
                      json={"stepfunctions": {"execute_state_machine": True}}).raise_for_status()
        return self

    def activate(self) -> None:
        """Make this the emulator of the process: moto's routes and the port its state
        machine interpreter calls back on (localhost:MOTO_PORT) are process-wide."""
        _install_routes(self.router)
        os.environ["MOTO_PORT"] = str(self.port)

    def reset(self) -> None:
        self.activate()
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        requests.post(f"{self.url}/moto-api/config", timeout=10,
                      json={"stepfunctions": {"execute_state_machine": True}}).raise_for_status()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
