"""Local mode as one object: the emulator, the app deployed into it, the ECS agent."""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from chalicelib.core.registry import Registry
from chalicelib.core.runtime import Runtime
from chalicelib.core.settings import Settings
from daskyard.credentials import FILE, LocalCredentials, data_dir, forget
from daskyard.local import iam, inventory, quotas, seam
from daskyard.local.agent import EcsAgent, NullRunner, ProcessRunner, Runner
from daskyard.local.deploy import (
    STAGE,
    Deployment,
    _image_build_project,
    _tables,
    default_vpc_way_out,
    deploy,
    group_of,
    push_images,
    user_keys,
)
from daskyard.local.emulator import Emulator, LambdaRouter
from daskyard.local.latency import NONE, Latency
from daskyard.local.processes import Guard, Reaped, reap
from daskyard.local.seam import CHANGED, DEPLOYMENT, FILE_SYSTEMS, IMAGES, SERVICES
from daskyard.local.standalone import Image, StandaloneTasks, attach

log = logging.getLogger("daskyard.local")
LOCAL_ENV = {"POWERTOOLS_LOG_LEVEL": "WARNING",
             # No X-Ray daemon and no CloudWatch here: traces and EMF metrics off.
             "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
             # Emulator credentials: never real ones, so nothing reaches AWS by mistake.
             "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105  # emulator's fake keys
             "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",  # nosec B105  # emulator's fake token
             "AWS_REGION": "us-east-1",
             # AWS's managed policies exist in every account (a peer attaches them).
             "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
             # Before the app is loaded: its event rules match its stage's resources.
             "DASKYARD_STAGE": STAGE}
# Services only the deployment writes to (the app calls none of their write APIs): a
# reset keeps them as deployed unless they changed (seam.CHANGES: DEPLOYMENT). Executions
# are dropped on every reset, so the state machines stay too.
DEPLOYMENT_ONLY = ("iam", "lambda", "events", "stepfunctions")
# The images the deployment pushed are kept too, unless something changed them (a test
# deleting a tag or a repository): seam.CHANGES says when (IMAGES).
IMAGES_SERVICE = "ecr"


def load_app() -> ModuleType:
    return importlib.import_module("app")


def wait_execution(clients: Clients, arn: str, timeout: float = 120) -> dict[str, Any]:
    """The execution's description once it has ended (tests and benchmarks wait on it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = clients.sfn.describe_execution(executionArn=arn)
        if out["status"] != "RUNNING":
            return dict(out)
        time.sleep(0.05)
    raise TimeoutError(f"{arn} still running after {timeout}s")


def _drop_cluster_roles(clients: Clients) -> None:
    """IAM outlives a reset (the deployment's roles are there): the roles clusters made
    (each scheduler's, under /daskyard/) go with the clusters."""
    iam = clients.client("iam")
    for role in iam.list_roles(PathPrefix="/daskyard/")["Roles"]:
        for policy in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
            iam.delete_role_policy(RoleName=role["RoleName"], PolicyName=policy)
        iam.delete_role(RoleName=role["RoleName"])


@contextlib.contextmanager
def _long_lived() -> Iterator[None]:
    """A start makes most of what its process will hold, for as long as it runs (moto's
    and botocore's models, moto's backends, the deployment): no collection while it is
    made (the full ones it set off walked it again and again), one after (what earlier
    local modes in this process left goes too), then the collector leaves it alone
    (gc.freeze), at exit too. About 1.7 s of CPU less in a demo's own process (7.7 s)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
    gc.collect()
    gc.freeze()


class AlreadyRunning(RuntimeError):
    """moto keeps its state per process: two local modes in one process would share
    one emulator's state and fight over its ECS services."""


class LocalMode:
    """`with LocalMode() as local:` starts everything; leaving stops it all.
    One per process (see AlreadyRunning)."""

    _running: LocalMode | None = None

    def __init__(self, processes: bool = True, time_scale: float = 1.0, port: int = 0,
                 root: Path | None = None, latency: Latency = NONE,
                 enforce_iam: bool = True) -> None:
        os.environ.update(LOCAL_ENV)
        self.app = load_app()
        # The Lambdas' logger may exist from before the environment was set (an import
        # of chalicelib): give it the level local mode runs at.
        from chalicelib.core.observability import logger

        logger.setLevel(LOCAL_ENV["POWERTOOLS_LOG_LEVEL"])
        self.router = LambdaRouter(self.app)
        self.router.latency = latency
        self.emulator = Emulator(self.router, port=port)
        # AWS's delays are acted out at the profile's scale, and the state machines'
        # waits and retry intervals shrink with them.
        self.time_scale = latency.scale if latency.active else time_scale
        self.root = root or data_dir()
        self.keys = self.root / FILE  # where the admin's keys go (serve_api)
        self.guard = Guard(self.root)
        self.reaped: list[Reaped] = []  # what start() cleaned up after earlier local modes
        self.runner: Runner = self._runner(processes)
        self.agent: EcsAgent | None = None
        self.standalone: StandaloneTasks | None = None  # RunTask's tasks
        self.images: dict[str, Image] = {}  # local images by name (default: this env)
        self.api_url = ""
        self._served = True
        self._api: Any = None
        self.deployment: Deployment | None = None
        self.clients: Clients | None = None
        self.enforce_iam = enforce_iam
        self.iam: iam.Iam | None = None  # every call authorized as IAM would (start)
        self._lambda_clients: dict[tuple[str, str], Clients] = {}
        self._deployment_changed = True
        self.admin: tuple[str, str, str] = ("", "", "")  # ARN, access key id, secret key
        self._images_changed = True

    def _runner(self, processes: bool) -> Runner:
        return ProcessRunner(self.guard, self._logs) if processes else NullRunner()

    def _logs(self) -> Any:
        assert self.clients is not None
        return self.clients.logs

    def start(self) -> LocalMode:
        if LocalMode._running is not None:
            raise AlreadyRunning("a local mode is already running in this process")
        LocalMode._running = self
        with _long_lived():
            try:
                # Whatever an earlier local mode on this data directory left (it was
                # killed), then this one's guard: from here on no task outlives this process.
                self.reaped = reap(self.root)
                for reaped in self.reaped:
                    log.info("%s", reaped)
                self.guard.start()
                self._start_iam()
                CHANGED.subscribe(IMAGES, self._image_change)
                CHANGED.subscribe(DEPLOYMENT, self._deployment_change)
                quotas.install()  # AWS's default quotas where moto has none (the doctor reads them)
                self.emulator.start()
                self.deploy()
            except BaseException:
                self.stop()
                raise
        return self

    def _start_iam(self) -> None:
        """IAM decides every call (daskyard.local.iam): local mode itself signs as the
        account's root, with a key made for this run; Lambdas, machines and tasks with
        their roles' sessions."""
        if not self.enforce_iam:
            return
        missing = iam.unavailable()
        if missing:
            log.warning("local mode runs without IAM: %s", missing)
            return
        self.iam = iam.Iam(seam.get("moto.core.DEFAULT_ACCOUNT_ID"), LOCAL_ENV["AWS_REGION"])
        key_id, secret, _ = self.iam.root
        os.environ.update({"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret})
        os.environ.pop("AWS_SESSION_TOKEN", None)
        iam.activate(self.iam)
        self.router.runtime_of = self._lambda_runtime

    def _lambda_runtime(self, stage: str, function: str, base: Runtime | None) -> Runtime:
        """The Runtime a function runs with: its group's role's session, as Lambda gives
        it (one per stage and group, made on first use)."""
        from chalicelib.core.runtime import from_env

        group = group_of(function)
        key = (stage, group)
        if key not in self._lambda_clients:
            assert self.iam is not None
            self._lambda_clients[key] = Clients(
                endpoint_url=self.emulator.url, credentials=self.iam.assume(
                    f"arn:aws:iam::{self.iam.account}:role/daskyard-{stage}-{group}", group))
        # The settings as they are now (a test may change the environment's).
        settings, clients = (base or from_env()).settings, self._lambda_clients[key]
        return Runtime(settings, clients, Registry(clients.dynamodb, settings.table,
                                                   settings.ended_record_days))

    def _task_credentials(self, role_arn: str, session: str) -> dict[str, str]:
        assert self.iam is not None
        return self.iam.assume(role_arn, session)

    def deploy(self) -> None:
        """Deploy the app into the emulator as it is, and start the agent."""
        self.clients = self.clients or Clients(endpoint_url=self.emulator.url)
        self.deployment = deploy(self.clients, self.app, time_scale=self.time_scale)
        self.admin = user_keys(self.clients)
        self._images_changed = False  # as deployed
        if self.api_url:
            self.write_credentials()
        self._deployment_changed = False  # as deployed
        self._start_agent()

    @property
    def latency(self) -> Latency:
        return self.router.latency

    def act_out(self, latency: Latency, time_scale: float) -> None:
        """A clean world with another latency profile and ASL time scale (deployed again
        when the scale changes: the state machines' waits are set at deploy)."""
        self.router.latency = latency
        self.router.cool()  # a new deployment's functions start cold
        if time_scale != self.time_scale:
            self.time_scale = time_scale
            self._deployment_changed = True  # the next reset deploys again
        self.reset()

    def _start_agent(self) -> None:
        from chalicelib.core.runtime import from_env

        assert self.clients is not None
        from_env.cache_clear()  # the handlers read the environment deploy set, afresh
        self.agent = EcsAgent(self.clients, self.runner, self.root / "efs", guard=self.guard,
                              drives_root=self.root / "drives", latency=self.router.latency,
                              roles=self._task_credentials if self.iam else None,
                              mounts=self.iam.allows_mount if self.iam else None)
        CHANGED.subscribe(SERVICES, self.agent.wake.set)  # services changed: act at once
        CHANGED.subscribe(FILE_SYSTEMS, self._efs_change)
        self.agent.start()
        self.standalone = attach(self)

    def _efs_change(self) -> None:
        if self.agent is not None:
            self.agent.efs_changed.set()
            self.agent.wake.set()

    def _stop_agent(self) -> None:
        if self.standalone:
            self.standalone.stop()
            self.standalone = None
        if self.agent:
            CHANGED.unsubscribe(SERVICES, self.agent.wake.set)
            CHANGED.unsubscribe(FILE_SYSTEMS, self._efs_change)
            self.agent.stop()
            self._drop_own_folders(self.agent)
            self.agent = None

    def _drop_own_folders(self, agent: EcsAgent) -> None:
        """The clusters' own folders go with the emulator's state (a reset or a stop
        ends their clusters); named drives stay."""
        for folder in agent.own_folders.values():
            shutil.rmtree(folder, ignore_errors=True)
            self.guard.drop_folder(folder)

    def _deployment_change(self) -> None:
        self._deployment_changed = True

    def _restore_deployment(self, images: bool) -> None:
        """Put back what the deployment made in the services a reset empties: the
        tables, the signing secrets, the image build project and (`images`) the images."""
        assert self.clients is not None and self.deployment is not None
        os.environ.update(self.deployment.env)
        settings = Settings.from_env()
        _tables(self.clients, settings)
        default_vpc_way_out(self.clients)  # a reset makes moto's default VPC afresh
        for secret_id in (settings.slack_secret_id, settings.webhook_secret_id):
            self.clients.secrets.create_secret(Name=secret_id,
                                               SecretString=secrets.token_hex(32))
        assert self.deployment.roles is not None
        _image_build_project(self.clients, self.deployment.roles.template["ImageBuildRole"])
        _drop_cluster_roles(self.clients)
        if images:
            push_images(self.clients, settings)
        self._images_changed = False

    def _image_change(self) -> None:
        self._images_changed = True

    def reset(self, processes: bool | None = None) -> None:
        """A clean world between tests: no record, cluster, execution, task, parameter
        or secret of earlier ones. The DEPLOYMENT_ONLY services keep the deployment;
        every other service is reset and what the deployment put there is put back.
        Should a DEPLOYMENT_ONLY service differ from the deployment, everything is reset
        and deployed again. `processes` switches between real entrypoint processes and
        control-plane-only tasks."""
        self._stop_agent()
        if processes is not None:
            self.runner.close()
            self.runner = self._runner(processes)
        self.router.interceptor = None
        self.router.stages.clear()
        self._lambda_clients.clear()  # new Lambda containers: nothing cached (secrets)
        if not self._deployment_changed:
            images = self._images_changed
            self.emulator.reset(keep=DEPLOYMENT_ONLY + (() if images else (IMAGES_SERVICE,)))
            self._restore_deployment(images)
            self._start_agent()
        else:
            log.warning("a service only the deployment writes to changed: deploying afresh")
            self.emulator.reset()
            self.deploy()
        self.router.invocations.clear()

    def add_stage(self, stage: str) -> Runtime:
        """Deploy a second stage into this emulator, as two stages share an AWS account:
        its machines, functions and rules run (until the next reset) with the Runtime
        returned, while local mode's own stage keeps the environment."""
        assert self.clients is not None
        deployment = deploy(self.clients, self.app, time_scale=self.time_scale, stage=stage)
        settings = Settings.from_env({**LOCAL_ENV, **deployment.env})
        rt = Runtime(settings, self.clients, Registry(self.clients.dynamodb, settings.table,
                                                        settings.ended_record_days))
        self.router.stages[stage] = rt
        return rt

    def leftovers(self, cluster: str, settle: float = 0, stage: str = STAGE) -> list[str]:
        """What is left of a cluster: in the emulator (listed per service) and as tasks
        of the agent, waiting up to `settle` seconds for them to go, as ECS stops a
        deleted service's tasks a moment after the delete."""
        assert self.clients is not None and self.agent is not None
        names = naming.Names(stage, cluster)
        deadline = time.monotonic() + settle
        while True:
            found = inventory.leftovers(self.clients, cluster, stage) + [
                task.arn for role in naming.ROLES
                for task in self.agent.running(names.service(role))]
            if not found or time.monotonic() >= deadline:
                return found
            time.sleep(0.2)

    @property
    def credentials(self) -> LocalCredentials:
        """The admin's keys for this local mode's API."""
        arn, key_id, secret = self.admin
        return LocalCredentials(api_url=self.api_url, access_key_id=key_id,
                                secret_access_key=secret, arn=arn, data_dir=str(self.root))

    def write_credentials(self) -> Path:
        """The admin's keys (mode 0600) as this API's entry, by default in
        `credentials.json` in the data directory, where the CLI and DaskyardCluster look
        for them; other APIs' entries are kept."""
        return self.credentials.write(self.keys, latest=self._served)

    def serve_api(self, port: int = 0, keys: Path | None = None, served: bool = True) -> str:
        """The app's HTTP API on 127.0.0.1: Chalice's local server, with IAM routes
        taking only SigV4 signatures of the emulator's IAM keys (daskyard.local.gateway),
        and the admin's keys written for the CLI (to `keys` when given). `served`: the
        API the CLI talks to when told none (`daskyard serve`; not a demo's own)."""
        self.keys = keys or self.keys
        self._served = served
        from chalice.config import Config
        from chalice.local import LocalChalice, LocalDevServer, ThreadedHTTPServer

        from daskyard.local.gateway import handler_class

        class Server(ThreadedHTTPServer):
            request_queue_size = 128  # bursts of clients, as API Gateway would take
            daemon_threads = True

        app = self.app.app
        if not isinstance(app, LocalChalice):
            # A request per thread: each must see its own `current_request` (body, headers,
            # caller), as in chalice's own local server; the app object is shared.
            app.__class__ = type("ThreadLocalChalice", (LocalChalice, type(app)), {})
        config = Config.create(chalice_app=self.app.app, chalice_stage="local",
                               app_name="daskyard")
        self._api = LocalDevServer(self.app.app, config, "127.0.0.1", port,
                                   handler_cls=handler_class(self.emulator.access_key),
                                   server_cls=Server)
        threading.Thread(target=self._api.server.serve_forever, name="api", daemon=True).start()
        self.api_url = f"http://127.0.0.1:{self._api.server.server_address[1]}"
        self.write_credentials()
        return self.api_url

    def stop(self) -> None:
        if self._api is not None:
            self._api.shutdown()
            self._api = None
            with contextlib.suppress(OSError):  # its keys open nothing any more
                forget(self.api_url, self.keys)
        self._stop_agent()
        self.runner.close()
        self.guard.close()
        CHANGED.unsubscribe(IMAGES, self._image_change)
        CHANGED.unsubscribe(DEPLOYMENT, self._deployment_change)
        self.emulator.stop()
        if self.iam is not None:
            iam.activate(None)
            self.iam.close()
            self.iam = None
        if LocalMode._running is self:
            LocalMode._running = None

    def __enter__(self) -> LocalMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
