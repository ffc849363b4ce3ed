"""The AWS emulator: a moto server on 127.0.0.1, in this process, with state machine
execution on, and each Lambda invocation (and each event matched to a Lambda target)
routed to the Chalice handler in-process by the MotoAdapter."""

from __future__ import annotations

import copy
import importlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Collection
from contextlib import nullcontext
from types import ModuleType
from typing import Any

import botocore.session
import requests
from chalice.local import LambdaContext

from chalicelib.core.runtime import Runtime, serving
from daskyard.local import seam, speedups
from daskyard.local.latency import NONE, Latency

Handler = Callable[[dict[str, Any], Any], Any]
# Tests wrap handlers to inject faults: (function name, event, real handler) -> result.
Interceptor = Callable[[str, dict[str, Any], Handler], Any]

log = logging.getLogger("daskyard.local")
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per emulator request
# The interpreter logs every failed state (expected in rollbacks) with its whole AST.
logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)


class LambdaRouter:
    """Maps a function name (`daskyard-<stage>-<Name>`) to the app's handler. The
    functions of a stage in `stages` run with that stage's Runtime (a second stage
    deployed into the same emulator); any other with the one the environment gives."""

    def __init__(self, app_module: ModuleType) -> None:
        self.handlers: dict[str, Handler] = {}
        self.stages: dict[str, Runtime] = {}
        app = app_module.app
        for fn in [*app.pure_lambda_functions, *app.event_sources]:
            module, _, attribute = fn.handler_string.rpartition(".")
            self.handlers[fn.name] = getattr(importlib.import_module(module), attribute)
        self.interceptor: Interceptor | None = None
        # AWS's delays to act out (daskyard.local.latency): a cold start per function.
        self.latency: Latency = NONE
        # (stage, function name, the stage's Runtime or None) -> the Runtime it runs with:
        # its role's credentials (daskyard.local.iam); None: the stage's as it is.
        self.runtime_of: Callable[[str, str, Runtime | None], Runtime] | None = None
        self._warm: set[str] = set()
        self.invocations: dict[str, int] = {}
        self._lock = threading.Lock()
        self._running = 0
        self._idle = threading.Condition(self._lock)

    def handler_for(self, function_name: str) -> tuple[str, Handler]:
        name = function_name.rsplit(":", 1)[-1].split("-", 2)[-1]
        return name, self.handlers[name]

    def runtime_for(self, function_name: str) -> Runtime | None:
        parts = function_name.rsplit(":", 1)[-1].split("-", 2)
        if len(parts) != 3:
            return None
        base = self.stages.get(parts[1])
        return self.runtime_of(parts[1], parts[2], base) if self.runtime_of else base

    def invoke(self, function_name: str, event: dict[str, Any]) -> tuple[str, bool]:
        """Returns (payload JSON, errored) as Lambda would: an exception becomes
        {"errorType": class name, "errorMessage": text}."""
        name, handler = self.handler_for(function_name)
        with self._lock:
            self.invocations[name] = self.invocations.get(name, 0) + 1
            self._running += 1
            cold = name not in self._warm
            self._warm.add(name)
        try:
            if cold:  # a new execution environment initialises before the handler runs
                self.latency.wait("lambda_cold_start")
            # Each invocation gets a Lambda context, as Lambda gives one (60 s, as deployed).
            context = LambdaContext(name, memory_size=512, max_runtime_ms=60_000)
            rt = self.runtime_for(function_name)
            with serving(rt) if rt else nullcontext():
                if self.interceptor is not None:
                    result = self.interceptor(name, event, lambda e, _: handler(e, context))
                else:
                    result = handler(event, context)
            return json.dumps(result), False
        except Exception as exc:
            log.info("lambda %s raised %s: %s", name, type(exc).__name__, exc)
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), True
        finally:
            with self._lock:
                self._running -= 1
                self._idle.notify_all()

    def cool(self) -> None:
        """Every function's next invocation is a cold start again."""
        with self._lock:
            self._warm.clear()

    def wait_idle(self, timeout: float) -> bool:
        """True once no handler is running; False if one still runs after `timeout` s."""
        with self._lock:
            return self._idle.wait_for(lambda: self._running == 0, timeout)


# What the adapter replaces (declared in daskyard.local.seam): key -> target.
ADAPTED = {"invoke_lambda": "moto.awslambda.models.LambdaFunction._invoke_lambda",
           "send_to_targets": "moto.events.models.Rule.send_to_targets"}


class MotoAdapter:
    """Routes moto's Lambda invocations, and EventBridge deliveries to Lambda targets,
    to a LambdaRouter in this process.

    Two moto methods are replaced through the seam: `LambdaFunction._invoke_lambda(self,
    event)` (every Invoke, the state machine interpreter's included) and
    `Rule.send_to_targets(self, original_event, transform_input)` (every event matched to
    a rule). `install` is idempotent: one layer over moto's own methods, each kept as its
    replacement's `__wrapped__`. The router is looked up on each call, so emulators swap
    routers without touching moto. `uninstall` puts moto's methods back; `detach` does so
    when the last emulator using the adapter stops. With no router attached, the
    replacements call moto's own methods."""

    def __init__(self) -> None:
        self.router: LambdaRouter | None = None
        self._users: set[int] = set()
        self._lock = threading.RLock()
        self._installed = False

    @property
    def installed(self) -> bool:
        return self._installed

    def install(self) -> None:
        with self._lock:
            seam.wrap_once(ADAPTED["invoke_lambda"], self._invoke_lambda, self)
            seam.wrap_once(ADAPTED["send_to_targets"], self._send_to_targets, self)
            self._installed = True

    def uninstall(self) -> None:
        with self._lock:
            for target in ADAPTED.values():
                seam.unwrap(target, self)
            self._installed = False

    def attach(self, user: object, router: LambdaRouter) -> None:
        """Install if needed and route to `router` (the last attached router wins)."""
        with self._lock:
            self.install()
            self._users.add(id(user))
            self.router = router

    def detach(self, user: object) -> None:
        """`user` no longer routes through moto; the last user out uninstalls."""
        with self._lock:
            self._users.discard(id(user))
            if not self._users:
                self.router = None
                self.uninstall()

    def _invoke_lambda(self, original: Callable[..., Any]) -> Callable[..., Any]:
        adapter = self

        def invoke_lambda(function: Any, event: Any = None) -> tuple[str, bool, str]:
            router = adapter.router
            if router is None:
                return original(function, event)
            body = event if isinstance(event, dict) else json.loads(event or "{}")
            payload, errored = router.invoke(function.function_name, body)
            return payload, errored, ""

        return invoke_lambda

    def _send_to_targets(self, original: Callable[..., Any]) -> Callable[..., Any]:
        adapter = self
        parse_arn = seam.get("moto.utilities.arns.parse_arn")

        def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
            router = adapter.router
            if router is None:
                return original(rule, original_event, transform_input)
            ours = [t for t in rule.targets if parse_arn(t["Arn"]).service == "lambda"]
            if ours and rule.event_pattern.matches_event(original_event):
                for target in ours:
                    # Delivered at once, in order: the handler copes with any order anyway.
                    router.invoke(target["Arn"], dict(original_event))
            rest = copy.copy(rule)
            rest.targets = [t for t in rule.targets if t not in ours]
            return original(rest, original_event, transform_input)

        return send_to_targets


# One per process: moto's classes are process-wide.
ADAPTER = MotoAdapter()


def _running(execution: Any) -> bool:
    try:
        return bool(execution.status == "RUNNING")
    except AttributeError:  # no status before it starts
        return False


DYNAMODB_WRITES = threading.RLock()  # one DynamoDB write at a time (see below)


def _atomic_conditional_writes() -> None:
    """DynamoDB checks a write's condition and writes in one step; moto's backend reads
    the item, checks and stores it with no lock, so under load two concurrent
    conditional puts of one name can both succeed (seen once in CI: 6 clusters from 50
    concurrent POSTs over 5 names). The write methods are serialized: atomic, as on AWS."""

    def atomic(original: Callable[..., Any]) -> Callable[..., Any]:
        def locked(*args: Any, **kwargs: Any) -> Any:
            with DYNAMODB_WRITES:
                return original(*args, **kwargs)

        return locked

    for method in ("put_item", "update_item", "delete_item", "transact_write_items"):
        seam.wrap_once(f"moto.dynamodb.models.DynamoDBBackend.{method}", atomic,
                       DYNAMODB_WRITES)


def _mount_targets_take_time() -> None:
    """EFS mount targets as AWS makes them: `creating` until the active latency profile's
    delay has passed, then `available` (moto makes them available at once)."""

    def create(original: Callable[..., Any]) -> Callable[..., Any]:
        def creating(*args: Any, **kwargs: Any) -> Any:
            target = original(*args, **kwargs)
            router = ADAPTER.router
            delay = router.latency.of("efs_mount_target") if router else 0.0
            if delay > 0:
                target.life_cycle_state = "creating"
                target.daskyard_available_at = time.monotonic() + delay
            return target
        return creating

    def describe(original: Callable[..., Any]) -> Callable[..., Any]:
        def settled(*args: Any, **kwargs: Any) -> Any:
            marker, targets = original(*args, **kwargs)
            for target in targets:
                if target.life_cycle_state == "creating" \
                        and time.monotonic() >= target.daskyard_available_at:
                    target.life_cycle_state = "available"
            return marker, targets
        return settled

    seam.wrap_once("moto.efs.models.EFSBackend.create_mount_target", create,
                   _mount_targets_take_time)
    seam.wrap_once("moto.efs.models.EFSBackend.describe_mount_targets", describe,
                   _mount_targets_take_time)


def _parameter_store_events() -> None:
    """SSM tells EventBridge of each parameter written ("Parameter Store Change"), as
    AWS does; moto does not. The event goes to the emulator's EventBridge in-process."""

    def put(original: Callable[..., Any]) -> Callable[..., Any]:
        def announced(ssm: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            created = not seam.ssm_has_parameter(ssm, name)
            parameter = original(ssm, name, *args, **kwargs)
            detail = {"name": name, "type": getattr(parameter, "type", "String"),
                      "operation": "Create" if created else "Update"}
            seam.backend("events", ssm.account_id, ssm.region_name).put_events([{
                "Source": "aws.ssm", "DetailType": "Parameter Store Change",
                "Detail": json.dumps(detail), "Resources": [],
                "EventBusName": "default"}])
            return parameter
        return announced

    seam.wrap_once("moto.ssm.models.SimpleSystemManagerBackend.put_parameter", put,
                   _parameter_store_events)


_STATE_TASK = "moto.stepfunctions.parser.asl.component.state.exec.state_task"


def _nested_executions() -> None:
    """A Task `arn:aws:states:::states:startExecution.sync` runs as on AWS: moto's
    interpreter sends its parameters as the ASL writes them (StateMachineArn, where the
    API takes stateMachineArn) and gives its answer back in the API's casing, so every
    such task failed with States.Runtime. Its own converters (the service model's
    shapes) are put to use, and an execution named by none gets a generated name, as
    Step Functions gives it."""
    sfn = f"{_STATE_TASK}.service.state_task_service_sfn.StateTaskServiceSfn"
    model = botocore.session.get_session().get_service_model("stepfunctions")

    def operation(task: Any, action: str | None) -> Any:
        name = action or task._get_boto_service_action()
        return model.operation_model("".join(part.capitalize() for part in name.split("_")))

    def parameters(original: Callable[..., Any]) -> Callable[..., Any]:
        # moto's parameter names: it passes them by keyword.
        def in_api_casing(task: Any, parameters: dict[str, Any],
                          boto_service_name: str | None = None,
                          service_action_name: str | None = None) -> None:
            original(task, parameters, boto_service_name, service_action_name)
            shape = operation(task, service_action_name).input_shape
            task._to_boto_request(parameters, shape)
            if "name" in shape.members and not parameters.get("name"):
                parameters["name"] = str(uuid.uuid4())
        return in_api_casing

    def response(original: Callable[..., Any]) -> Callable[..., Any]:
        def in_asl_casing(task: Any, response: Any, boto_service_name: str | None = None,
                          service_action_name: str | None = None) -> None:
            original(task, response, boto_service_name, service_action_name)
            task._from_boto_response(response,
                                     operation(task, service_action_name).output_shape)
        return in_asl_casing

    seam.wrap_once(f"{sfn}._normalise_parameters", parameters, _nested_executions)
    seam.wrap_once(f"{sfn}._normalise_response", response, _nested_executions)


class Emulator:
    """A moto server in this process. `url` is what AWS_ENDPOINT_URL points at."""

    def __init__(self, router: LambdaRouter, port: int = 0,
                 adapter: MotoAdapter = ADAPTER) -> None:
        self.router = router
        self.port = port
        self.adapter = adapter
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Emulator:
        speedups.install()
        _nested_executions()
        _atomic_conditional_writes()
        _mount_targets_take_time()
        _parameter_store_events()
        server = seam.get("moto.moto_server.threaded_moto_server.ThreadedMotoServer")
        self._server = server(ip_address="127.0.0.1", port=self.port,
                                          verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        self.activate()
        requests.post(f"{self.url}/moto-api/config", timeout=10,
                      json={"stepfunctions": {"execute_state_machine": True}}).raise_for_status()
        return self

    def access_key(self, access_key_id: str) -> tuple[str, str, str] | None:
        """(IAM user ARN, secret key, user id) for an active key the emulator's IAM
        holds: what API Gateway asks IAM when it checks a SigV4 signature."""
        iam = seam.backend("iam", seam.get("moto.core.DEFAULT_ACCOUNT_ID"))
        user = iam.get_user_from_access_key_id(access_key_id)
        if user is None:
            return None
        for key in user.access_keys:
            if key.access_key_id == access_key_id and key.status == "Active":
                from daskyard.local.deploy import aws_user_id

                return str(user.arn), str(key.secret_access_key), aws_user_id(str(user.id))
        return None

    def activate(self) -> None:
        """Make this the emulator of the process: moto's routes and the port its state
        machine interpreter calls back on (localhost:MOTO_PORT) are process-wide."""
        self.adapter.attach(self, self.router)
        os.environ["MOTO_PORT"] = str(self.port)

    def end_executions(self, timeout: float = 5) -> None:
        """Stop every running execution and forget all executions; the state machines
        stay. A stopped execution waiting on a task token is woken so that it ends, and
        the Lambdas it called are let return (up to `timeout` s in all, then a warning)."""
        machines = [machine for backends in seam.backend_dicts()
                    if backends.service_name == "stepfunctions"
                    for account in backends.values() for backend in account.values()
                    for machine in getattr(backend, "state_machines", [])]
        running = [(m, e) for m in machines for e in m.executions if _running(e)]
        for machine, execution in running:
            try:
                machine.stop_execution(execution.execution_arn)
                # A token wait (and the Parallel around it) ignores the stop until it
                # times out; wake each one, as a late callback would.
                for endpoint in seam.callback_endpoints(execution):
                    endpoint.interrupt_all()
            except Exception:  # not started yet, or ended meanwhile
                log.debug("could not stop %s", execution.execution_arn, exc_info=True)
        deadline = time.monotonic() + timeout
        while any(_running(e) for _, e in running) and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.router.wait_idle(max(0.0, deadline - time.monotonic())) or any(
                _running(e) for _, e in running):
            log.warning("an execution or Lambda of an earlier run still runs after %s s",
                        timeout)
        for machine in machines:
            machine.executions.clear()

    def reset(self, keep: Collection[str] = ()) -> None:
        """Every service back to a new account's state, in place in this process,
        except the services named in `keep` (moto's names: "iam", "lambda", ...).
        Executions are ended and forgotten either way (see end_executions)."""
        backend_lock = seam.get("moto.core.base_backend.backend_lock")
        model_data = seam.get("moto.core.model_instances.model_data")
        self.activate()
        self.end_executions()
        with backend_lock:
            for backends in seam.backend_dicts():
                if backends.service_name in keep:
                    continue
                for account in backends.values():
                    account.reset()
                # moto tracks every model instance for its dashboard; drop the reset ones.
                for model in model_data.get(backends.backend.__module__.split(".")[1],
                                            {}).values():
                    model.instances_tracked = []

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.adapter.detach(self)
