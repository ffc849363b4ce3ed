"""The AWS emulator: a moto server on 127.0.0.1, in this process, with state machine
execution on, and each Lambda invocation (and each event matched to a Lambda target)
routed to the Chalice handler in-process by the MotoAdapter."""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from contextlib import nullcontext
from types import ModuleType
from typing import Any

import boto3
import requests
from chalice.local import LambdaContext

from chalicelib.core.runtime import Runtime, serving
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


def _moto_targets() -> dict[str, tuple[type, str, tuple[str, ...]]]:
    """What the adapter replaces: key -> (moto class, method, its parameter names)."""
    from moto.awslambda.models import LambdaFunction
    from moto.events.models import Rule

    return {"invoke_lambda": (LambdaFunction, "_invoke_lambda", ("self", "event")),
            "send_to_targets": (Rule, "send_to_targets",
                                ("self", "original_event", "transform_input"))}


class MotoAdapter:
    """Routes moto's Lambda invocations, and EventBridge deliveries to Lambda targets,
    to a LambdaRouter in this process.

    Two moto methods are replaced: `LambdaFunction._invoke_lambda(self, event)` (every
    Invoke, the state machine interpreter's included) and `Rule.send_to_targets(self,
    original_event, transform_input)` (every event matched to a rule). `install` is
    idempotent: one layer over moto's own methods, whose originals are kept in
    `originals` and set as each replacement's `__wrapped__`. The router is looked up on
    each call, so emulators swap routers without touching moto. `uninstall` puts moto's
    methods back; `detach` does so when the last emulator using the adapter stops.
    With no router attached, the replacements call moto's own methods."""

    def __init__(self) -> None:
        self.router: LambdaRouter | None = None
        self.originals: dict[str, Callable[..., Any]] = {}
        self._users: set[int] = set()
        self._lock = threading.RLock()

    @property
    def installed(self) -> bool:
        return bool(self.originals)

    def install(self) -> None:
        with self._lock:
            if self.originals:
                return
            targets = _moto_targets()
            originals = {}
            for key, (cls, method, names) in targets.items():
                original = cls.__dict__[method]
                found = tuple(inspect.signature(original).parameters)
                if found != names:
                    raise RuntimeError(f"moto's {cls.__name__}.{method} takes {found}; "
                                       f"the adapter expects {names}")
                originals[key] = original
            replacements = {"invoke_lambda": self._invoke_lambda(originals["invoke_lambda"]),
                            "send_to_targets": self._send_to_targets(
                                originals["send_to_targets"])}
            for key, (cls, method, _) in targets.items():
                setattr(cls, method, replacements[key])
            self.originals = originals

    def uninstall(self) -> None:
        with self._lock:
            for key, (cls, method, _) in _moto_targets().items():
                if key in self.originals:
                    setattr(cls, method, self.originals[key])
            self.originals = {}

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

    def _mark(self, replacement: Callable[..., Any], original: Callable[..., Any]) -> Any:
        functools.update_wrapper(replacement, original)
        replacement.__moto_adapter__ = self  # type: ignore[attr-defined]
        return replacement

    def _invoke_lambda(self, original: Callable[..., Any]) -> Any:
        adapter = self

        def invoke_lambda(function: Any, event: Any = None) -> tuple[str, bool, str]:
            router = adapter.router
            if router is None:
                return original(function, event)
            body = event if isinstance(event, dict) else json.loads(event or "{}")
            payload, errored = router.invoke(function.function_name, body)
            return payload, errored, ""

        return self._mark(invoke_lambda, original)

    def _send_to_targets(self, original: Callable[..., Any]) -> Any:
        adapter = self

        def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
            from moto.utilities.arns import parse_arn

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

        return self._mark(send_to_targets, original)


# One per process: moto's classes are process-wide.
ADAPTER = MotoAdapter()


def _backend_dicts() -> list[Any]:
    """moto's per-service state, one BackendDict per service in use."""
    from moto.core.base_backend import BackendDict

    return list(BackendDict._instances)  # type: ignore[misc]


def _running(execution: Any) -> bool:
    try:
        return bool(execution.status == "RUNNING")
    except AttributeError:  # no status before it starts
        return False


def _wrap_once(cls: type, methods: tuple[str, ...], mark: object,
               around: Callable[[Any], Callable[..., Any]]) -> None:
    """Replace each of `cls`'s own `methods` (a subclass may override one) by
    `around(original)`, once: a method already wrapped under `mark` is left as it is."""
    for method in methods:
        original = cls.__dict__[method]
        if getattr(original, "__daskyard_wrap__", None) is mark:
            continue
        wrapped = functools.wraps(original)(around(original))
        wrapped.__daskyard_wrap__ = mark  # type: ignore[attr-defined]
        setattr(cls, method, wrapped)


# A moto backend method whose name starts so changes the service's state.
WRITES = ("create_", "delete_", "put_", "update_", "batch_delete_", "tag_", "untag_",
          "set_", "start_", "complete_", "initiate_", "upload_")


class BackendChanges:
    """Tells listeners when a service's state in the emulator changes: moto's backend
    methods that change it are wrapped once per process, and each listener is called
    after such a method returns. The local ECS agent hears of service changes so, as
    ECS's control plane tells its agents (it acts at once and polls seldom); a reset
    hears of image changes so (it keeps the images unless they changed)."""

    def __init__(self, backend: str, methods: tuple[str, ...] = (),
                 ignore: Callable[[Any], bool] | None = None) -> None:
        self.backend = backend  # "module:Class"
        self.methods = methods  # default: every method named as a write (WRITES)
        self.ignore = ignore  # by the methods' first argument: changes that do not count
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        module, _, name = self.backend.partition(":")
        backend = getattr(importlib.import_module(module), name)
        methods = self.methods or tuple(m for m in vars(backend) if m.startswith(WRITES))
        with self._lock:
            _wrap_once(backend, methods, self, self._notifying)

    def _notifying(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def changed(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if self.ignore is not None and len(args) > 1 and self.ignore(args[1]):
                return result
            for listener in list(self._listeners):
                listener()
            return result

        return changed

    def subscribe(self, listener: Callable[[], None]) -> None:
        self.install()
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)


SCHEDULER_ROLE_SUFFIX = "-scheduler"  # naming.Names.scheduler_role
ECS_CHANGES = BackendChanges("moto.ecs.models:EC2ContainerServiceBackend",
                             ("create_service", "update_service", "delete_service",
                              "delete_cluster"))
ECR_CHANGES = BackendChanges("moto.ecr.models:ECRBackend")
# A deleted file system: the local agent removes a cluster's own folder with it.
EFS_CHANGES = BackendChanges("moto.efs.models:EFSBackend", ("delete_file_system",))
# What only a deployment changes: roles, functions, event rules, state machines.
DEPLOYMENT_CHANGES = (
    # Each cluster's scheduler role is the app's, made and deleted as clusters come and go.
    BackendChanges("moto.iam.models:IAMBackend",
                   ("create_role", "delete_role", "put_role_policy", "attach_role_policy",
                    "delete_role_policy"),
                   ignore=lambda role: str(role).endswith(SCHEDULER_ROLE_SUFFIX)),
    BackendChanges("moto.awslambda.models:LambdaBackend",
                   ("create_function", "delete_function", "update_function_code",
                    "update_function_configuration")),
    BackendChanges("moto.events.models:EventsBackend",
                   ("put_rule", "delete_rule", "put_targets", "remove_targets")),
    BackendChanges("moto.stepfunctions.models:StepFunctionBackend", ("delete_state_machine",)),
    # The interpreting backend makes and updates machines in its own methods.
    BackendChanges("moto.stepfunctions.parser.models:StepFunctionsParserBackend",
                   ("create_state_machine", "update_state_machine")),
)


DYNAMODB_WRITES = threading.RLock()  # one DynamoDB write at a time (see below)


def _atomic_conditional_writes() -> None:
    """DynamoDB checks a write's condition and writes in one step; moto's backend reads
    the item, checks and stores it with no lock, so under load two concurrent
    conditional puts of one name can both succeed (seen once in CI: 6 clusters from 50
    concurrent POSTs over 5 names). The write methods are serialized: atomic, as on AWS."""
    from moto.dynamodb.models import DynamoDBBackend

    def atomic(original: Callable[..., Any]) -> Callable[..., Any]:
        def locked(*args: Any, **kwargs: Any) -> Any:
            with DYNAMODB_WRITES:
                return original(*args, **kwargs)

        return locked

    _wrap_once(DynamoDBBackend, ("put_item", "update_item", "delete_item",
                                 "transact_write_items"), DYNAMODB_WRITES, atomic)


def _mount_targets_take_time() -> None:
    """EFS mount targets as AWS makes them: `creating` until the active latency profile's
    delay has passed, then `available` (moto makes them available at once)."""
    from moto.efs.models import EFSBackend

    def create(original: Callable[..., Any]) -> Callable[..., Any]:
        def creating(*args: Any, **kwargs: Any) -> Any:
            target = original(*args, **kwargs)
            router = ADAPTER.router
            delay = router.latency.of("efs_mount_target") if router else 0.0
            if delay > 0:
                target.life_cycle_state = "creating"
                target._available_at = time.monotonic() + delay
            return target
        return creating

    def describe(original: Callable[..., Any]) -> Callable[..., Any]:
        def settled(*args: Any, **kwargs: Any) -> Any:
            marker, targets = original(*args, **kwargs)
            for target in targets:
                if target.life_cycle_state == "creating" \
                        and time.monotonic() >= target._available_at:
                    target.life_cycle_state = "available"
            return marker, targets
        return settled

    _wrap_once(EFSBackend, ("create_mount_target",), _mount_targets_take_time, create)
    _wrap_once(EFSBackend, ("describe_mount_targets",), _mount_targets_take_time, describe)


def _parameter_store_events() -> None:
    """SSM tells EventBridge of each parameter written ("Parameter Store Change"), as
    AWS does; moto does not. The event goes to the emulator's EventBridge in-process."""
    from moto.events.models import events_backends
    from moto.ssm.models import SimpleSystemManagerBackend

    def put(original: Callable[..., Any]) -> Callable[..., Any]:
        def announced(backend: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            created = name not in backend._parameters
            parameter = original(backend, name, *args, **kwargs)
            detail = {"name": name, "type": getattr(parameter, "type", "String"),
                      "operation": "Create" if created else "Update"}
            events_backends[backend.account_id][backend.region_name].put_events([{
                "Source": "aws.ssm", "DetailType": "Parameter Store Change",
                "Detail": json.dumps(detail), "Resources": [],
                "EventBusName": "default"}])
            return parameter
        return announced

    _wrap_once(SimpleSystemManagerBackend, ("put_parameter",), _parameter_store_events, put)


def _list_services_once() -> None:
    """moto's server finds the service of every request by listing its own package
    directory (os.listdir and an isdir per entry, under a lock): a fifth of the CPU of
    each emulated AWS call, measured. The directory does not change while we run."""
    import moto.backends as backends

    original = backends.list_of_moto_modules
    if hasattr(original, "__wrapped__"):
        return
    names = tuple(original())

    def listed() -> tuple[str, ...]:
        return names

    listed.__wrapped__ = original  # type: ignore[attr-defined]
    backends.list_of_moto_modules = listed


def _one_lambda_client_per_endpoint() -> None:
    """The ASL interpreter makes a new boto3 client for every Lambda task it runs (its
    `boto_client_for`, 6 ms of CPU each): a fifteenth of the CPU of a create and its
    destroy, measured. The client depends only on the region, the service and the
    server's port, and boto3 clients may be shared between threads: one is kept per
    (region, service, port)."""
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        lambda_eval_utils,
    )

    original = lambda_eval_utils.boto_client_for
    if hasattr(original, "clients"):
        return
    clients: dict[tuple[str, str, str, str], Any] = {}
    lock = threading.Lock()

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        from daskyard.local import iam

        signer = iam.ACTIVE.states_key if iam.ACTIVE is not None else None
        key = (region, service, moto_server_port(), signer[0] if signer else "")
        with lock:
            if key not in clients:
                client = original(region, service, state_credentials)
                if signer is not None:  # Step Functions calls with its machines' role
                    client = boto3.client(  # type: ignore[call-overload]
                        service, region_name=region, endpoint_url=client.meta.endpoint_url,
                        aws_access_key_id=signer[0], aws_secret_access_key=signer[1],
                        config=client.meta.config)
                clients[key] = client
            return clients[key]

    client_for.clients = clients  # type: ignore[attr-defined]
    lambda_eval_utils.boto_client_for = client_for


def _parse_each_definition_once() -> None:
    """The ASL interpreter parses a machine's definition with ANTLR at the start of every
    execution: an eighth of the CPU of a create, measured. The parse tree is only read
    afterwards, so it is kept per definition; the evaluation components are still built
    afresh from it for each execution (they hold that execution's state)."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    original = AmazonStateLanguageParser.__dict__["parse"]
    if hasattr(original.__func__, "trees"):
        return
    trees: dict[str, Any] = {}
    lock = threading.Lock()

    def parse(definition: str) -> tuple[Any, Any]:
        with lock:
            tree = trees.get(definition)
        if tree is None:
            _, tree = original.__func__(definition)  # raises on a bad definition
            with lock:
                trees[definition] = tree
        return Preprocessor().visit(tree), tree

    parse.trees = trees  # type: ignore[attr-defined]
    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]


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
        _list_services_once()
        _parse_each_definition_once()
        _one_lambda_client_per_endpoint()
        _atomic_conditional_writes()
        _mount_targets_take_time()
        _parameter_store_events()
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port,
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
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.iam.models import iam_backends

        iam = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
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
        machines = [machine for backends in _backend_dicts()
                    if backends.service_name == "stepfunctions"
                    for account in backends.values() for backend in account.values()
                    for machine in getattr(backend, "state_machines", [])]
        running = [(m, e) for m in machines for e in m.executions if _running(e)]
        for machine, execution in running:
            try:
                machine.stop_execution(execution.execution_arn)
                # A token wait (and the Parallel around it) ignores the stop until it
                # times out; wake each one, as a late callback would.
                for endpoint in list(execution.exec_worker.env.callback_pool_manager._pool
                                     .values()):
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
        from moto.core.base_backend import backend_lock
        from moto.core.model_instances import model_data

        self.activate()
        self.end_executions()
        with backend_lock:
            for backends in _backend_dicts():
                if backends.service_name in keep:
                    continue
                for account in backends.values():
                    account.reset()
                # moto tracks every model instance for its dashboard; drop the reset ones.
                for model in model_data.get(backends.backend.__module__.split(".")[1],
                                            {}).values():
                    model.instances_tracked = []  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.adapter.detach(self)
