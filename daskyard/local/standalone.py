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
import ctypes
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from daskyard.local.agent import EcsAgent, LocalTask
from daskyard.local.emulator import _wrap_once
from daskyard.local.latency import Latency

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
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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


def stream_of(container: dict[str, Any], task_id: str) -> tuple[str, str, bool] | None:
    """(group, stream, create the group?) from a container's awslogs configuration."""
    config = container.get("logConfiguration") or {}
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or "awslogs-group" not in options:
        return None
    prefix = options.get("awslogs-stream-prefix")
    name = f"{prefix}/{container['name']}/{task_id}" if prefix else task_id
    return (options["awslogs-group"], name,
            str(options.get("awslogs-create-group", "")).lower() == "true")


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up before any fork (a lookup in the child could deadlock)."""
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError, AttributeError):
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    return None


_PRCTL = _prctl()


def spawn(argv: Sequence[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """A task's process: a session (and process group) of its own, SIGKILLed when the
    thread that forks it ends (StandaloneTasks forks from its one long-lived thread,
    which ends only after every task was stopped)."""
    parent = os.getpid()

    def preexec() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return subprocess.Popen(list(argv), env=env, start_new_session=True,  # nosec B603  # the task's own argv
                            preexec_fn=preexec, **kwargs)  # the death signal: prctl only


class LogPump:
    """One task's output (stdout and stderr, one pipe) to CloudWatch Logs, as the awslogs
    driver sends it: lines in batches, at most every `interval` seconds."""

    def __init__(self, logs: Any, fd: int, target: tuple[str, str, bool] | None,
                 interval: float = 0.2) -> None:
        self.logs, self.fd, self.target, self.interval = logs, fd, target, interval
        if target is not None:
            group, stream, create = target
            if create:
                with contextlib.suppress(Exception):  # exists already
                    logs.create_log_group(logGroupName=group)
            with contextlib.suppress(Exception):
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
        self.thread = threading.Thread(target=self._run, name="task-logs", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        partial, pending, last = b"", [], time.monotonic()
        while True:
            ready, _, _ = select.select([self.fd], [], [], self.interval)
            data = os.read(self.fd, 65536) if ready else None
            if data is not None:
                *lines, partial = (partial + data).split(b"\n")
                if not data and partial:
                    lines, partial = [*lines, partial], b""
                pending += [line.decode(errors="replace").rstrip("\r") for line in lines]
            if pending and (data == b"" or time.monotonic() - last >= self.interval):
                self._send([p for p in pending if p])
                pending, last = [], time.monotonic()
            if data == b"":
                os.close(self.fd)
                return

    def _send(self, lines: list[str]) -> None:
        if self.target is None or not lines:
            return
        group, stream, _ = self.target
        now = int(time.time() * 1000)
        try:
            self.logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
                {"timestamp": now, "message": line[:65536]} for line in lines])
        except Exception as exc:  # the group was deleted, the emulator reset
            log.debug("task logs %s/%s: %d lines dropped: %s", group, stream, len(lines), exc)

    def drain(self, timeout: float = 5) -> None:
        self.thread.join(timeout)


@dataclass
class TaskProcess:
    proc: subprocess.Popen[bytes]
    pump: LogPump


class CommandRunner:
    """The agent's Runner for any task definition: the container's command (not
    Daskyard's entrypoint) as a local process, its output to CloudWatch Logs."""

    def __init__(self, logs: Callable[[], Any], images: dict[str, Image],
                 spawn: Callable[..., subprocess.Popen[bytes]] = spawn) -> None:
        self.logs, self.images, self.spawn = logs, images, spawn

    def image(self, name: str) -> Image:
        return self.images.get(name, Image())

    def start(self, task: LocalTask, env: dict[str, str]) -> TaskProcess:
        container = task.container
        image = self.image(str(container.get("image", "")))
        argv = on_own_address(command_of(container, image), task.ip)
        env = {**env, "PATH": os.pathsep.join(
            [*(str(p) for p in image.path), str(environment_bin()), env.get("PATH", "")])}
        read, write = os.pipe()
        try:
            proc = self.spawn(argv, env, stdout=write, stderr=subprocess.STDOUT)
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        log.info("task %s runs %s on %s", task.arn.rsplit("/", 1)[-1][:8],
                 " ".join([Path(argv[0]).name, *argv[1:3]]), task.ip)
        return TaskProcess(proc, LogPump(self.logs(), read,
                                         stream_of(container, task.arn.rsplit("/", 1)[-1])))

    def exited(self, handle: TaskProcess) -> bool:
        return handle.proc.poll() is not None

    def stop(self, handle: TaskProcess) -> None:
        """SIGTERM to the task's process group, SIGKILL after 10 s (ECS waits 30 s), and
        SIGKILL to what is left of the group (a nanny's worker), as a container's end
        takes every process in it."""
        proc = handle.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def settle(self, handle: TaskProcess) -> int | None:
        """Once ended: its output all sent; its exit code (128+n for signal n, as Docker)."""
        handle.pump.drain()
        code = handle.proc.poll()
        return None if code is None else (128 - code if code < 0 else code)

    def close(self) -> None:
        pass


class NoProcess:
    """Control-plane-only local mode: a task runs nothing until it is stopped."""

    def start(self, task: LocalTask, env: dict[str, str]) -> threading.Event:
        return threading.Event()

    def exited(self, handle: threading.Event) -> bool:
        return handle.is_set()

    def stop(self, handle: threading.Event) -> None:
        handle.set()

    def settle(self, handle: threading.Event) -> int | None:
        return None

    def close(self) -> None:
        pass


@dataclass
class Standalone:
    moto: Any  # moto's Task
    backend: Any  # its ECS backend
    local: LocalTask
    due: float  # when its image is pulled (latency profile): RUNNING from then on
    handle: Any = None
    stopped: bool = False


class TaskRunner(Protocol):
    """The agent's Runner, and what an ended task leaves: its output sent, its exit code."""

    def start(self, task: LocalTask, env: dict[str, str]) -> Any: ...
    def exited(self, handle: Any) -> bool: ...
    def stop(self, handle: Any) -> None: ...
    def settle(self, handle: Any) -> int | None: ...


class StandaloneTasks:
    """Runs the tasks RunTask starts, beside the local mode's agent (one at a time per
    process, as moto's state is per process: `start` makes it the current one)."""

    current: StandaloneTasks | None = None

    def __init__(self, agent: EcsAgent, runner: TaskRunner, latency: Callable[[], Latency],
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
        """Every task this ran is stopped, as when its cluster's capacity goes away: by
        the loop's thread, which forked them (their death signal is its end)."""
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
        from moto.ec2.models import ec2_backends

        td = backend.describe_task_definition(task.task_definition_arn)
        containers = _with_overrides(td.container_definitions, task.overrides)
        with self.agent._lock:  # one generator of addresses, the agent's
            ip = next(self.agent._ips)
        eni_id = ""
        for attachment in task.attachments:
            details = {d["name"]: d for d in attachment["details"]}
            eni_id = details["networkInterfaceId"]["value"]
            details["privateIPv4Address"]["value"] = ip
            eni = ec2_backends[backend.account_id][backend.region_name].enis[eni_id]
            eni.private_ip_address = ip
            eni.private_ip_addresses = [{"Primary": True, "PrivateIpAddress": ip}]
            public = task.network_configuration["awsvpcConfiguration"].get("assignPublicIp")
            if public == "ENABLED":  # here the public address is the task's own too
                eni.public_ip = ip
        task._transitions = []  # moto walks its tasks to STOPPED as they are described
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
                self.agent._emit(task.local, "PENDING")
            if now < task.due:
                return
            try:
                task.handle = self.runner.start(task.local, self._environment(task))
            except CannotStartContainer as exc:
                self._finish(task, f"CannotStartContainerError: {exc}", "TaskFailedToStart")
                return
            moto.status = "RUNNING"
            for container in moto.containers:
                container.last_status = "RUNNING"
            self.agent._emit(task.local, "RUNNING")
        elif self.runner.exited(task.handle):
            self._finish(task, "Essential container in task exited", "EssentialContainerExited")
        elif gone or asked:
            self.runner.stop(task.handle)
            self._finish(task, moto.stopped_reason or "Task stopped by user", "UserInitiated")

    def _finish(self, task: Standalone, reason: str, stop_code: str) -> None:
        """STOPPED, with its reason and exit code; its ENI deleted, as ECS does."""
        from moto.ec2.models import ec2_backends

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
        ec2 = ec2_backends[task.backend.account_id][task.backend.region_name]
        with contextlib.suppress(Exception):  # gone with a reset
            ec2.delete_network_interface(task.local.eni)
        with contextlib.suppress(Exception):  # the event bus gone with a reset
            self.agent._emit(task.local, "STOPPED", moto.stopped_reason)
        log.info("task %s stopped: %s (exit code %s, %s)", task.local.arn.rsplit("/", 1)[-1][:8],
                 moto.stopped_reason, code, stop_code)
        self.tasks.remove(task)

    def _environment(self, task: Standalone) -> dict[str, str]:
        """What ECS gives the container: its environment (with the overrides), its secrets
        resolved, the task role's credentials (here, the emulator's)."""
        container = task.local.container
        env = {k: v for k, v in os.environ.items() if k.startswith(INHERITED)}
        env.update({e["name"]: e["value"] for e in container.get("environment") or []})
        for secret in container.get("secrets") or []:
            env[secret["name"]] = self.agent._secret_value(secret["valueFrom"])
        return env


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
        from moto.ecs.models import AccountSetting

        found = original(backend, name, value)
        put = {s.name for s in backend.account_settings.values()}
        defaults = [AccountSetting(n, v) for n, v in ACCOUNT_DEFAULTS.items()
                    if n not in put and (not name or n == name) and (not value or v == value)]
        return [*found, *defaults]

    return list_account_settings


def install() -> None:
    """Wrap moto's RunTask, StopTask and ListAccountSettings, once per process."""
    from moto.ecs.models import EC2ContainerServiceBackend

    _wrap_once(EC2ContainerServiceBackend, ("run_task",), install, _run_task)
    _wrap_once(EC2ContainerServiceBackend, ("stop_task",), install, _stop_task)
    _wrap_once(EC2ContainerServiceBackend, ("list_account_settings",), install,
               effective_account_settings)


def attach(local: Any) -> StandaloneTasks:
    """Standalone tasks beside a LocalMode's agent (started with it, stopped with it): real
    processes when the agent's are, else none; the images it knows; its latency profile."""
    from daskyard.local.agent import ProcessRunner

    # A local mode that guards its processes (one whose every task dies with it even
    # when it is SIGKILLed) starts these through its guard too.
    guard = getattr(local, "guard", None)
    runner: TaskRunner = CommandRunner(lambda: local.clients.logs, local.images,
                                       guard.spawn if guard is not None else spawn) \
        if isinstance(local.runner, ProcessRunner) else NoProcess()
    return StandaloneTasks(local.agent, runner, lambda: local.router.latency).start()
