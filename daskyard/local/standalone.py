"""ECS tasks started by RunTask, run as ECS runs them, for any task definition: the local
ECS agent (daskyard.local.agent) runs the services' tasks; this runs the standalone ones
(`group` `family:...`), which a peer such as dask-cloudprovider's FargateCluster starts.

What a task is, locally:
- its container's command (with the RunTask overrides) run as a local process, after
  the image's entrypoint, with the executables of the image's folders and of this
  interpreter's environment (`Image`); a command that cannot start stops the task with
  ECS's `CannotStartContainerError`;
- its own loopback address, as awsvpc gives each task its own ENI: the address is the
  ENI's in EC2 (private, and public when the task asked for one), so DescribeTasks and
  DescribeNetworkInterfaces show it. A container binds all interfaces of its own network
  namespace; a local process must bind its own address only, so dask's CLIs are given
  `--host` (and a dashboard address) when the command names none;
- PROVISIONING, PENDING (for the latency profile's task start), RUNNING, STOPPED with
  the reason and exit code, and 'ECS Task State Change' events, as the agent emits them;
  StopTask stops the process (SIGTERM, then SIGKILL), and ECS deletes the ENI;
- its output in CloudWatch Logs under the awslogs group and
  `<stream prefix>/<container name>/<task id>` stream its definition names.

moto's own tasks never run and walk to STOPPED on their own as they are described; the
tasks handed here stay as their process is. moto also lists no ECS account settings
unless one was put, where AWS answers the account's effective (default) ones:
`effective_account_settings` answers those."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from daskyard.local import seam
from daskyard.local.agent import (
    EcsAgent,
    LocalTask,
    NullRunner,
    ProcessRunner,
    Runner,
    TaskProcess,
)
from daskyard.local.awslogs import stream_of
from daskyard.local.latency import Latency
from daskyard.local.processes import Guard

log = logging.getLogger("daskyard.local")

# ECS account settings as a new account has them (AWS made the long ARN formats the
# default in 2021; the rest are off unless turned on). moto answers only settings put.
ACCOUNT_DEFAULTS = {"serviceLongArnFormat": "enabled", "taskLongArnFormat": "enabled",
                    "containerInstanceLongArnFormat": "enabled", "awsvpcTrunking": "disabled",
                    "containerInsights": "disabled", "dualStackIPv6": "disabled"}
# What a task inherits from this process's environment besides its definition's.
INHERITED = ("AWS_", "PATH", "HOME", "LANG", "LC_", "PYTHON", "VIRTUAL_ENV", "TMPDIR")
# dask's CLIs, and the dashboard port each binds by default (0: any free one).
DASK_ROLES = {("dask-scheduler",): 8787, ("dask", "scheduler"): 8787,
              ("dask-worker",): 0, ("dask", "worker"): 0}


class CannotStartContainer(RuntimeError):
    """The container's command cannot be run (ECS: CannotStartContainerError)."""


@dataclass(frozen=True)
class Image:
    """A container image, locally: what its ENTRYPOINT puts before the command, and the
    folders its executables come from (searched before this interpreter's)."""

    entrypoint: tuple[str, ...] = ()
    path: tuple[Path, ...] = ()


def environment_bin() -> Path:
    """The folder of this interpreter's executables (`dask`, ...): every image has them."""
    return Path(sys.executable).parent


def command_of(container: dict[str, Any], image: Image) -> list[str]:
    """The argv a container runs: the image's entrypoint, then its command, the program
    found in the image's folders or this environment's."""
    argv = [*image.entrypoint, *(container.get("command") or [])]
    if not argv:
        raise CannotStartContainer("the container has no command and its image no entrypoint")
    search = os.pathsep.join(str(p) for p in (*image.path, environment_bin()))
    program = shutil.which(argv[0], path=search)
    if program is None:
        raise CannotStartContainer(
            f'exec: "{argv[0]}": executable file not found in $PATH')
    return [program, *argv[1:]]


def on_own_address(argv: list[str], ip: str) -> list[str]:
    """A dask scheduler or worker bound to the task's address: what binding all
    interfaces means inside the task's own network namespace."""
    words = (Path(argv[0]).name, *argv[1:2])
    dashboard = DASK_ROLES.get(words[:1], DASK_ROLES.get(words[:2]))
    if dashboard is None:
        return argv
    given = {a.split("=", 1)[0] for a in argv}
    extra = []
    if not given & {"--host", "--interface"}:
        extra += ["--host", ip]
    if "--dashboard-address" not in given:
        extra += ["--dashboard-address", f"{ip}:{dashboard}"]
    return [*argv, *extra]


def create_group(container: dict[str, Any]) -> bool:
    """The awslogs option `awslogs-create-group`: the driver makes the group if needed."""
    options = (container.get("logConfiguration") or {}).get("options") or {}
    return str(options.get("awslogs-create-group", "")).lower() == "true"


class CommandRunner(ProcessRunner):
    """The agent's runner for any task definition: the container's command (after its
    image's entrypoint, with its image's executables), not Daskyard's entrypoint; started
    by the local mode's guard, its output sent by the awslogs driver, as ProcessRunner's."""

    def __init__(self, guard: Guard, logs: Callable[[], Any], images: dict[str, Image]) -> None:
        super().__init__(guard, logs)
        self.logs = logs
        self.images = images

    def start(self, task: LocalTask, env: dict[str, str]) -> TaskProcess:
        container = task.container
        image = self.images.get(str(container.get("image", "")), Image())
        argv = on_own_address(command_of(container, image), task.ip)
        env = {**env, "PATH": os.pathsep.join(
            [*(str(p) for p in image.path), str(environment_bin()), env.get("PATH", "")])}
        task_id = task.arn.rsplit("/", 1)[-1]
        target = stream_of(container, task_id)
        if target is not None and create_group(container):
            with contextlib.suppress(ClientError):  # it exists
                self.logs().create_log_group(logGroupName=target[0])
        read, write = os.pipe()
        try:
            proc = self.guard.spawn(argv, env=env, task=task_id, stdout=write,
                                    stderr=subprocess.STDOUT)
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        log.info("task %s runs %s on %s", task_id[:8], " ".join([Path(argv[0]).name,
                                                                   *argv[1:3]]), task.ip)
        return TaskProcess(proc, self.awslogs.attach(read, *(target or ("", ""))), task_id)


@dataclass
class Standalone:
    moto: Any  # moto's Task
    backend: Any  # its ECS backend
    local: LocalTask
    due: float  # when its image is pulled (latency profile): RUNNING from then on
    handle: Any = None
    stopped: bool = False


class StandaloneTasks:
    """Runs the tasks RunTask starts, beside the local mode's agent (one at a time per
    process, as moto's state is per process: `start` makes it the current one)."""

    current: StandaloneTasks | None = None

    def __init__(self, agent: EcsAgent, runner: Runner, latency: Callable[[], Latency],
                 interval: float = 0.2) -> None:
        self.agent = agent
        self.runner = runner
        self.latency = latency
        self.interval = interval
        self.tasks: list[Standalone] = []
        self.wake = threading.Event()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> StandaloneTasks:
        install()
        StandaloneTasks.current = self
        self._thread = threading.Thread(target=self._loop, name="ecs-standalone", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Every task this ran is stopped, as when its cluster's capacity goes away (and
        the local mode's guard kills them should this process die first)."""
        if StandaloneTasks.current is self:
            StandaloneTasks.current = None
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=120)
        self._stop_all()  # none left if the thread stopped them; else it never ran

    def _stop_all(self) -> None:
        with self._lock:
            for task in list(self.tasks):
                self._finish(task, "Task stopped: the local mode stopped", "TaskFailedToStart"
                             if task.handle is None else "UserInitiated")

    def running(self) -> list[LocalTask]:
        with self._lock:
            return [t.local for t in self.tasks if not t.stopped]

    # --- from moto's request threads -------------------------------------------------
    def accepted(self, backend: Any, task: Any) -> None:
        """A task RunTask just made: PROVISIONING, on an address of its own."""
        td = backend.describe_task_definition(task.task_definition_arn)
        containers = _with_overrides(td.container_definitions, task.overrides)
        ip = self.agent.next_address()
        eni_id = ""
        for attachment in task.attachments:
            details = {d["name"]: d for d in attachment["details"]}
            eni_id = details["networkInterfaceId"]["value"]
            details["privateIPv4Address"]["value"] = ip
            eni = seam.backend("ec2", backend.account_id, backend.region_name).enis[eni_id]
            eni.private_ip_address = ip
            eni.private_ip_addresses = [{"Primary": True, "PrivateIpAddress": ip}]
            public = task.network_configuration["awsvpcConfiguration"].get("assignPublicIp")
            if public == "ENABLED":  # here the public address is the task's own too
                eni.public_ip = ip
        seam.hold_status(task)
        task.status = "PROVISIONING"
        for container in task.containers:
            container.last_status = "PENDING"
        local = LocalTask(arn=task.task_arn, cluster_arn=task.cluster_arn, group=task.group,
                          task_definition={"taskDefinitionArn": td.arn,
                                           "containerDefinitions": containers},
                          ip=ip, eni=eni_id)
        due = time.monotonic() + self.latency().of("fargate_task_start")
        with self._lock:
            self.tasks.append(Standalone(task, backend, local, due))
        self.wake.set()

    def stop_requested(self, task: Any) -> None:
        """StopTask: moto marks it STOPPED at once; it is RUNNING until its process ends."""
        with self._lock:
            ours = next((t for t in self.tasks if t.moto is task and not t.stopped), None)
            if ours is not None and ours.handle is not None:
                task.status = "RUNNING"
        self.wake.set()

    # --- the loop --------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            self.wake.wait(self.interval)
            self.wake.clear()
            if self._stop.is_set():
                self._stop_all()
                return
            try:
                self.reconcile()
            except Exception:  # the emulator may be resetting between tests
                log.exception("standalone tasks: reconcile failed")

    def reconcile(self) -> None:
        now = time.monotonic()
        with self._lock:
            for task in list(self.tasks):
                self._step(task, now)

    def _step(self, task: Standalone, now: float) -> None:
        moto = task.moto
        gone = task.backend.tasks.get(moto.cluster_name, {}).get(moto.task_arn) is not moto \
            or task.backend.clusters.get(moto.cluster_name) is None \
            or task.backend.clusters[moto.cluster_name].status != "ACTIVE"
        asked = moto.desired_status == "STOPPED"
        if task.handle is None:
            if gone or asked:
                self._finish(task, moto.stopped_reason or "Task stopped before it started",
                             "UserInitiated")
                return
            if moto.status == "PROVISIONING":
                moto.status = "PENDING"
                self.agent.emit(task.local, "PENDING")
            if now < task.due:
                return
            try:
                env = self._environment(task)
            except ClientError as exc:  # as ECS says when a secret cannot be read
                self._finish(task, "ResourceInitializationError: unable to pull secrets or "
                             f"registry auth: {exc}", "TaskFailedToStart")
                return
            try:
                task.handle = self.runner.start(task.local, env)
            except CannotStartContainer as exc:
                self._finish(task, f"CannotStartContainerError: {exc}", "TaskFailedToStart")
                return
            moto.status = "RUNNING"
            for container in moto.containers:
                container.last_status = "RUNNING"
            self.agent.emit(task.local, "RUNNING")
        elif self.runner.exited(task.handle):
            self._finish(task, "Essential container in task exited", "EssentialContainerExited")
        elif gone or asked:
            self.runner.stop(task.handle)
            self._finish(task, moto.stopped_reason or "Task stopped by user", "UserInitiated")

    def _finish(self, task: Standalone, reason: str, stop_code: str) -> None:
        """STOPPED, with its reason and exit code; its ENI deleted, as ECS does."""
        if task.stopped:
            return
        task.stopped = True
        code = None
        if task.handle is not None:
            self.runner.stop(task.handle)
            code = self.runner.settle(task.handle)
        moto = task.moto
        moto.status, moto.desired_status = "STOPPED", "STOPPED"
        moto.stopped_reason = moto.stopped_reason or reason
        for container in moto.containers:
            container.last_status = "STOPPED"
            if code is not None:
                container.exitCode = code
        ec2 = seam.backend("ec2", task.backend.account_id, task.backend.region_name)
        with contextlib.suppress(Exception):  # gone with a reset
            ec2.delete_network_interface(task.local.eni)
        with contextlib.suppress(Exception):  # the event bus gone with a reset
            self.agent.emit(task.local, "STOPPED", moto.stopped_reason)
        log.info("task %s stopped: %s (exit code %s, %s)", task.local.arn.rsplit("/", 1)[-1][:8],
                 moto.stopped_reason, code, stop_code)
        self.tasks.remove(task)

    def _environment(self, task: Standalone) -> dict[str, str]:
        """What ECS gives the container (with the overrides): EcsAgent.container_environment."""
        return self.agent.container_environment(
            task.local.task_definition, task.local.container,
            task.local.arn.rsplit("/", 1)[-1], INHERITED)


def _with_overrides(containers: list[dict[str, Any]], overrides: dict[str, Any]
                    ) -> list[dict[str, Any]]:
    """The container definitions as RunTask's containerOverrides change them."""
    out = []
    by_name = {o.get("name"): o for o in (overrides or {}).get("containerOverrides", [])}
    for container in containers:
        container = dict(container)
        override = by_name.get(container.get("name"), {})
        if "command" in override:
            container["command"] = list(override["command"])
        if override.get("environment"):
            merged = {e["name"]: e["value"] for e in container.get("environment") or []}
            merged.update({e["name"]: e["value"] for e in override["environment"]})
            container["environment"] = [{"name": k, "value": v} for k, v in merged.items()]
        out.append(container)
    return out


def _run_task(original: Callable[..., Any]) -> Callable[..., Any]:
    def run_task(backend: Any, *args: Any, **kwargs: Any) -> Any:
        tasks = original(backend, *args, **kwargs)
        runner = StandaloneTasks.current
        if runner is not None:
            for task in tasks:
                runner.accepted(backend, task)
        return tasks

    return run_task


def _stop_task(original: Callable[..., Any]) -> Callable[..., Any]:
    def stop_task(backend: Any, *args: Any, **kwargs: Any) -> Any:
        task = original(backend, *args, **kwargs)
        runner = StandaloneTasks.current
        if runner is not None:
            runner.stop_requested(task)
        return task

    return stop_task


def effective_account_settings(original: Callable[..., Any]) -> Callable[..., Any]:
    """ListAccountSettings as AWS answers it: the settings put, else the defaults."""

    def list_account_settings(backend: Any, name: str | None = None,
                              value: str | None = None) -> Any:
        setting = seam.get("moto.ecs.models.AccountSetting")
        found = original(backend, name, value)
        put = {s.name for s in backend.account_settings.values()}
        defaults = [setting(n, v) for n, v in ACCOUNT_DEFAULTS.items()
                    if n not in put and (not name or n == name) and (not value or v == value)]
        return [*found, *defaults]

    return list_account_settings


def install() -> None:
    """Wrap moto's RunTask, StopTask and ListAccountSettings, once per process."""
    for method, around in (("run_task", _run_task), ("stop_task", _stop_task),
                           ("list_account_settings", effective_account_settings)):
        seam.wrap_once(f"moto.ecs.models.EC2ContainerServiceBackend.{method}", around, install)


def attach(local: Any) -> StandaloneTasks:
    """Standalone tasks beside a LocalMode's agent (started with it, stopped with it): real
    processes, through its guard, when the agent's are, else none; the images it knows;
    its latency profile."""
    runner: Runner = CommandRunner(local.guard, lambda: local.clients.logs, local.images) \
        if isinstance(local.runner, ProcessRunner) else NullRunner()
    return StandaloneTasks(local.agent, runner, lambda: local.router.latency).start()
