"""A local ECS agent: it turns the ECS services in the emulator into local tasks and
emits real-schema 'ECS Task State Change' events (PENDING, RUNNING, STOPPED) to
EventBridge, as ECS does. Each task gets its own loopback address, as awsvpc gives each
task its own IP. A runner decides what a task is: real entrypoint processes, or
nothing at all (for control-plane tests and benchmarks)."""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from daskyard.local.awslogs import AwsLogs, Stream, stream_of
from daskyard.local.latency import NONE, Latency
from daskyard.local.processes import Guard
from daskyard.local.server import ROOT

log = logging.getLogger("daskyard.local")
ENTRYPOINT = ROOT / "images" / "entrypoint.py"
# What a task inherits from this process's environment besides its definition's.
INHERITED = ("AWS_", "PATH", "HOME", "LANG", "PYTHON", "VIRTUAL_ENV")
# Local mode's own keys (the account's root): a task gets its role's instead.
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# (role ARN, session name) -> that role's credentials as environment variables.
Roles = Callable[[str, str], dict[str, str]]
# (task role ARN, file system ARN, its file system policy, the mount's condition keys)
# -> whether EFS lets the mount in (daskyard.local.iam.Iam.allows_mount).
Mounts = Callable[[str, str, dict[str, Any] | None, dict[str, str]], bool]


class MountRefused(Exception):
    """EFS refused a task's mount of its volume: the task does not start, as on ECS."""


def _access_point_root(point: dict[str, Any] | None) -> str:
    """An access point's root directory, as a path relative to the drive's folder;
    "" (the drive's root) for a volume without an access point."""
    if point is None:
        return ""
    path = PurePosixPath(point["RootDirectory"]["Path"])
    if ".." in path.parts:  # the steps never make one; a folder outside stays outside
        raise ValueError(f"access point {point['AccessPointId']}: root {path} leaves the "
                         "drive")
    return str(path.relative_to("/"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class LocalTask:
    arn: str
    cluster_arn: str
    group: str
    task_definition: dict[str, Any]
    ip: str
    eni: str
    created_at: str = field(default_factory=_now)
    version: int = 0
    handle: Any = None  # None while PENDING (its image being pulled)
    started: float = field(default_factory=time.monotonic)
    starts_at: float = 0.0  # when a PENDING task's container starts (monotonic)
    drive: Path | None = None  # its EFS volume, locally
    scratch: Path | None = None  # its container's own /tmp, locally (removed as it stops)
    health: str = "UNKNOWN"  # the container health check's verdict, as ECS reports it
    env: dict[str, str] = field(default_factory=dict, repr=False)
    checked_at: float = 0.0

    @property
    def container(self) -> dict[str, Any]:
        return dict(self.task_definition["containerDefinitions"][0])

    @property
    def health_check(self) -> list[str]:
        """The container's health check command (["CMD", ...]); [] when it has none."""
        return list(self.container.get("healthCheck", {}).get("command", []))


class Runner(Protocol):
    def start(self, task: LocalTask, env: dict[str, str]) -> Any: ...
    def exited(self, handle: Any) -> bool: ...
    def stop(self, handle: Any) -> None: ...
    def settle(self, handle: Any) -> int | None:
        """Once a task ended: its output all sent; its exit code if it has one."""
    def healthy(self, task: LocalTask) -> bool: ...
    def close(self) -> None: ...


class NullRunner:
    """Tasks that run nothing: the control plane alone."""

    def start(self, task: LocalTask, env: dict[str, str]) -> Any:
        return threading.Event()

    def exited(self, handle: Any) -> bool:
        return bool(handle.is_set())

    def stop(self, handle: Any) -> None:
        handle.set()

    def settle(self, handle: Any) -> int | None:
        return None

    def healthy(self, task: LocalTask) -> bool:
        return True

    def close(self) -> None:
        pass


@dataclass
class TaskProcess:
    proc: subprocess.Popen[bytes]
    stream: Stream | None  # where its output goes (awslogs), if its definition says
    task_id: str


class ProcessRunner:
    """Each task is its container's command run by the images' entrypoint as a local
    process, started by the local mode's guard (daskyard.local.processes): it dies with
    the local mode. Its output goes where the task definition's awslogs configuration
    says, in the emulator's CloudWatch Logs."""

    def __init__(self, guard: Guard, logs: Callable[[], Any]) -> None:
        self.guard = guard
        self.awslogs = AwsLogs(logs)

    def start(self, task: LocalTask, env: dict[str, str]) -> Any:
        role = task.container["command"][0]
        task_id = task.arn.rsplit("/", 1)[-1]
        read, write = os.pipe()
        try:
            proc = self.guard.spawn([sys.executable, str(ENTRYPOINT), role], env=env,
                                    task=task_id, stdout=write, stderr=subprocess.STDOUT)
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        target = stream_of(task.container, task_id)
        if target is None:  # no log driver: the output is read and dropped
            target = ("", "")
        return TaskProcess(proc, self.awslogs.attach(read, *target), task_id)

    def exited(self, handle: Any) -> bool:
        return handle.proc.poll() is not None

    def healthy(self, task: LocalTask) -> bool:
        """The task definition's health check, run as ECS runs it in the container: the
        images' entrypoint (`daskyard-entrypoint health ROLE`), with the task's env."""
        args = [a for a in task.health_check[1:] if a != "python"]
        if len(args) != 3 or not args[0].endswith("daskyard-entrypoint"):
            return False  # not a check this agent can run: never HEALTHY, as on ECS
        done = subprocess.run([sys.executable, str(ENTRYPOINT), *args[1:]],  # nosec B603  # this interpreter, our entrypoint
                              env=task.env, capture_output=True, timeout=10, check=False)
        return done.returncode == 0

    def stop(self, handle: Any) -> None:
        proc = handle.proc
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def settle(self, handle: Any) -> int | None:
        self.guard.end_task(handle.task_id)
        if handle.stream is not None:
            self.awslogs.drain(handle.stream)
        code = handle.proc.poll()
        return None if code is None else (128 - code if code < 0 else code)

    def close(self) -> None:
        self.awslogs.close()


# ECS's service scheduler throttles a service whose tasks keep failing: "the time
# between subsequent restart attempts is incrementally increased up to a maximum of 27
# minutes" (docs.aws.amazon.com/AmazonECS/latest/developerguide/service-throttle-logic.html).
# On Fargate a replacement also takes its 30-60 s to provision; here it would take none,
# and a crashing task relaunched seventeen times in fifteen seconds. So every task that
# ends on its own delays its service's next start, doubling from FIRST_DELAY up to
# MAX_DELAY; a task that has run RESET_AFTER seconds clears the count.
FIRST_DELAY = 1.0
MAX_DELAY = 27 * 60.0
RESET_AFTER = 60.0


class Backoff:
    def __init__(self, first_delay: float = FIRST_DELAY) -> None:
        self.first_delay = first_delay  # a test may shorten it: the doubling stays
        self._failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}

    def failed(self, service: str, now: float) -> None:
        failures = self._failures[service] = self._failures.get(service, 0) + 1
        delay = min(self.first_delay * 2 ** (failures - 1), MAX_DELAY)
        self._not_before[service] = now + delay

    def ran(self, service: str) -> None:
        self._failures.pop(service, None)
        self._not_before.pop(service, None)

    def may_start(self, service: str, now: float) -> bool:
        return now >= self._not_before.get(service, 0.0)

    def due(self, now: float, since: float) -> bool:
        """A delayed start has come due since the last look."""
        return any(since < t <= now for t in self._not_before.values())

    forget = ran


def free_loopback_ips() -> Iterator[str]:
    """Loopback addresses for tasks, as awsvpc gives each task its own IP. Each agent
    starts in a random 127.N.0.0/16 and skips addresses whose scheduler port is taken,
    so two local modes on one machine (a demo beside a test run) do not collide."""
    block = random.randrange(10, 250)  # nosec B311  # picks a loopback block, no secret
    for i in itertools.count(2):
        ip = f"127.{block}.{i // 250}.{i % 250 + 2}"
        with socket.socket() as probe:
            try:
                probe.bind((ip, naming.SCHEDULER_PORT))
            except OSError:
                continue
        yield ip


class EcsAgent:
    def __init__(self, clients: Clients, runner: Runner, efs_root: Path,
                 interval: float = 0.2, resync: float = 2.0, guard: Guard | None = None,
                 drives_root: Path | None = None, latency: Latency = NONE,
                 roles: Roles | None = None, mounts: Mounts | None = None) -> None:
        self.clients = clients
        # As EFS with IAM authorization: a mount its file system's policy and the task
        # role's do not allow is refused (None: every mount, without IAM).
        self.mounts = mounts
        # As ECS: a task's code gets its task role's credentials, and its secrets are
        # read with its execution role (None: the emulator's own keys, without IAM).
        self.roles = roles
        self._execution_clients: dict[str, Clients] = {}
        self.runner = runner
        # A task stays PENDING as long as Fargate takes to pull its image and start it.
        self.latency = latency
        # EFS, locally: a cluster's own drive is `efs_root/<cluster>`, removed when its
        # file system is deleted; a named drive is `drives_root/<drive>`, kept, each
        # owner's clusters in the folder of their access point's root below it.
        self.efs_root = efs_root
        self.drives_root = drives_root or efs_root.parent / "drives"
        self.guard = guard  # told of each cluster's own folder: reaped if we are killed
        self.own_folders: dict[str, Path] = {}  # file system's creation token -> folder
        self.efs_changed = threading.Event()
        # Tasks are checked for exits every `interval` s (locally); ECS is asked for its
        # services when `wake` is set (a service changed) and at least every `resync` s.
        self.interval = interval
        self.resync = resync
        self.wake = threading.Event()
        self.tasks: dict[str, list[LocalTask]] = {}  # service ARN -> its tasks
        self.events: list[dict[str, Any]] = []
        self._ips = free_loopback_ips()
        self.backoff = Backoff()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> EcsAgent:
        self._thread = threading.Thread(target=self._loop, name="ecs-agent", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread:
            self._thread.join(timeout=30)
        with self._lock:
            for service_arn in list(self.tasks):  # stop every task this agent started
                self._scale_to(service_arn, self.tasks[service_arn], 0, None)

    def next_address(self) -> str:
        """A task's own loopback address: one generator for every task of this process's
        local mode (the standalone tasks' too), as a VPC hands each ENI its own IP."""
        with self._lock:
            return next(self._ips)

    def running(self, group_suffix: str = "") -> list[LocalTask]:
        with self._lock:
            return [t for ts in self.tasks.values() for t in ts
                    if t.group.endswith(group_suffix)]

    def kill(self, task: LocalTask) -> None:
        """Stop a task's process from outside, as a crash would."""
        if task.handle is not None:
            self.runner.stop(task.handle)

    # --- the loop --------------------------------------------------------------------
    def _loop(self) -> None:
        synced = 0.0
        while not self._stop.is_set():
            woken = self.wake.wait(self.interval)
            self.wake.clear()
            if self._stop.is_set():
                return
            now = time.monotonic()
            if not (woken or now - synced >= self.resync or self._exited()
                    or self.backoff.due(now, synced) or self._pending_due(now)):
                self._check_health()
                continue
            try:
                self.reconcile()
                synced = time.monotonic()
            except Exception:  # the emulator may be resetting between tests
                log.exception("ecs agent reconcile failed")
            self._check_health()

    def _check_health(self) -> None:
        """Tasks with a health check that has not passed yet are checked, each at most
        once a second; the first pass is reported in a task state change event."""
        now = time.monotonic()
        with self._lock:
            waiting = [t for ts in self.tasks.values() for t in ts
                       if t.health_check and t.health == "UNKNOWN" and now - t.checked_at >= 1
                       and t.handle is not None and not self.runner.exited(t.handle)]
        for task in waiting:
            task.checked_at = now
            try:
                passed = self.runner.healthy(task)
            except (OSError, subprocess.TimeoutExpired):
                passed = False
            if passed:
                with self._lock:
                    task.health = "HEALTHY"
                    self.emit(task, "RUNNING")

    def _exited(self) -> bool:
        """A task's process has ended (ECS would see its container stop)."""
        with self._lock:
            return any(t.handle is not None and self.runner.exited(t.handle)
                       for ts in self.tasks.values() for t in ts)

    def _pending_due(self, now: float) -> bool:
        """A PENDING task's container is due to start."""
        with self._lock:
            return any(t.handle is None and t.starts_at <= now
                       for ts in self.tasks.values() for t in ts)

    def reconcile(self) -> None:
        ecs = self.clients.ecs
        seen: set[str] = set()
        with self._lock:
            for cluster_arn in ecs.list_clusters()["clusterArns"]:
                arns = ecs.list_services(cluster=cluster_arn)["serviceArns"]
                if not arns:
                    continue
                for svc in ecs.describe_services(cluster=cluster_arn, services=arns)["services"]:
                    if svc.get("status") != "ACTIVE":
                        continue
                    seen.add(svc["serviceArn"])
                    self._scale_to(svc["serviceArn"], self.tasks.get(svc["serviceArn"], []),
                                   svc["desiredCount"], svc)
            for gone in set(self.tasks) - seen:
                self._scale_to(gone, self.tasks[gone], 0, None)
            if self.efs_changed.is_set():
                self._sweep_folders()

    def _scale_to(self, service_arn: str, tasks: list[LocalTask], desired: int,
                  svc: dict[str, Any] | None) -> None:
        alive = []
        now = time.monotonic()
        for task in tasks:
            if task.handle is None:  # PENDING: its container starts when its time comes
                if now < task.starts_at or self._start(task):
                    alive.append(task)
                else:
                    self.backoff.failed(service_arn, now)
            elif self.runner.exited(task.handle):  # ended on its own: a crash, to ECS
                code = self.runner.settle(task.handle)
                self.emit(task, "STOPPED", "Essential container in task exited",
                           stop_code="EssentialContainerExited", exit_code=code)
                self.backoff.failed(service_arn, now)
            else:
                if now - task.started >= RESET_AFTER:
                    self.backoff.ran(service_arn)
                alive.append(task)
        while len(alive) > desired:
            task = alive.pop()
            code = None
            if task.handle is not None:
                self.runner.stop(task.handle)
                code = self.runner.settle(task.handle)
            self.emit(task, "STOPPED", "Scaling activity initiated by deployment",
                       stop_code="ServiceSchedulerInitiated", exit_code=code)
        while svc is not None and len(alive) < desired and self.backoff.may_start(
                service_arn, now):
            task = self._launch(svc)
            if task.starts_at <= time.monotonic() and not self._start(task):
                self.backoff.failed(service_arn, now)
                break
            alive.append(task)
        if alive:
            self.tasks[service_arn] = alive
        else:
            self.tasks.pop(service_arn, None)
        if svc is None:
            self.backoff.forget(service_arn)

    def _launch(self, svc: dict[str, Any]) -> LocalTask:
        """A new task of the service, PENDING from its event for the image pull's delay."""
        td = self.clients.ecs.describe_task_definition(
            taskDefinition=svc["taskDefinition"])["taskDefinition"]
        cluster_name = svc["clusterArn"].rsplit("/", 1)[-1]
        task = LocalTask(
            arn=f"{svc['clusterArn'].replace(':cluster/', ':task/')}/{uuid.uuid4().hex}",
            cluster_arn=svc["clusterArn"], group=f"service:{svc['serviceName']}",
            task_definition=dict(td), ip=self.next_address(), eni=f"eni-{uuid.uuid4().hex[:17]}")
        log.info("starting %s task on %s in %s", svc["serviceName"], task.ip, cluster_name)
        self.emit(task, "PENDING")
        # From the event, not from the loop's `now`: the calls above take their time, and
        # the task may not run sooner after its PENDING event than the pull takes.
        task.starts_at = time.monotonic() + self.latency.of("fargate_task_start")
        return task

    def _start(self, task: LocalTask) -> bool:
        """The container starts (its image pulled): PENDING becomes RUNNING. A secret
        that cannot be read stops the task before it starts, as on ECS."""
        try:
            task.env = self._task_env(task)
        except ClientError as exc:
            self.emit(task, "STOPPED", "ResourceInitializationError: unable to pull "
                       f"secrets: {exc.response['Error']['Code']}",
                       stop_code="TaskFailedToStart")
            return False
        except MountRefused as exc:
            self.emit(task, "STOPPED", "ResourceInitializationError: failed to invoke EFS "
                       f"utils commands to set up EFS volumes: mount.nfs4: {exc}",
                       stop_code="TaskFailedToStart")
            return False
        task.handle = self.runner.start(task, task.env)
        task.started = time.monotonic()
        self.emit(task, "RUNNING")
        return True

    def container_environment(self, task_definition: dict[str, Any],
                              container: dict[str, Any], task_id: str,
                              inherited: tuple[str, ...] = INHERITED) -> dict[str, str]:
        """What ECS gives a container: its environment, its secrets resolved with the
        execution role, and the task role's credentials (never local mode's own)."""
        env = {k: v for k, v in os.environ.items()
               if k.startswith(inherited) and k not in CREDENTIALS}
        env.update({e["name"]: e["value"] for e in container.get("environment") or []})
        secrets = self._execution(task_definition.get("executionRoleArn"), task_id)
        for secret in container.get("secrets") or []:
            env[secret["name"]] = self._secret_value(secret["valueFrom"], secrets)
        if self.roles is None:
            env.update({k: os.environ[k] for k in CREDENTIALS if k in os.environ})
        elif task_definition.get("taskRoleArn"):
            env.update(self.roles(task_definition["taskRoleArn"], task_id))
        return env

    def _execution(self, role_arn: str | None, task_id: str) -> Any:
        """The Secrets Manager client ECS reads a task's secrets with."""
        if self.roles is None or not role_arn:
            return self.clients.secrets
        if role_arn not in self._execution_clients:
            self._execution_clients[role_arn] = Clients(
                region=self.clients.region, endpoint_url=self.clients.endpoint_url,
                credentials=self.roles(role_arn, "ecs-agent"))
        return self._execution_clients[role_arn].secrets

    def _task_env(self, task: LocalTask) -> dict[str, str]:
        """What ECS gives a container (container_environment), the EFS volume mounted."""
        env = self.container_environment(task.task_definition, task.container,
                                         task.arn.rsplit("/", 1)[-1])
        env["DASKYARD_HOST"] = task.ip
        task.drive = self._mount(task, env.get("DASKYARD_CLUSTER", "unknown"))
        if task.drive is not None:
            env["DASKYARD_EFS"] = str(task.drive)
        # A container's /tmp is its own and goes with it: so does this folder (the
        # notebook keeps Jupyter's own files there, images/entrypoint.py).
        task.scratch = self.efs_root.parent / "tmp" / task.arn.rsplit("/", 1)[-1]
        task.scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
        env["TMPDIR"] = str(task.scratch)
        if os.geteuid() == 0:  # the machine's user is root: Jupyter must be told it may be
            env["DASKYARD_ALLOW_ROOT"] = "1"
        return env

    def _mount(self, task: LocalTask, cluster: str) -> Path | None:
        """The task's EFS volume as a folder: on a named drive (kept) the folder of its
        access point's root, as EFS mounts the access point's root and nothing above it
        (each owner's clusters have their own); or the cluster's own drive (None without
        an EFS volume)."""
        volume = next((v["efsVolumeConfiguration"]
                       for v in task.task_definition.get("volumes", [])
                       if v.get("efsVolumeConfiguration")), None)
        if volume is None:
            return None
        found = self.clients.efs.describe_file_systems(
            FileSystemId=volume["fileSystemId"])["FileSystems"]
        tags = {t["Key"]: t["Value"] for t in (found[0].get("Tags", []) if found else [])}
        point_id = (volume.get("authorizationConfig") or {}).get("accessPointId")
        point = self.clients.efs.describe_access_points(
            AccessPointId=point_id)["AccessPoints"][0] if point_id else None
        if found:
            self._check_mount(task, volume, found[0], point)
        if naming.TAG_DRIVE in tags:
            folder = self.drives_root / tags[naming.TAG_DRIVE] / _access_point_root(point)
        else:
            folder = self.efs_root / cluster
            if found:
                self.own_folders[found[0]["CreationToken"]] = folder
            if self.guard is not None:
                self.guard.keep_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _check_mount(self, task: LocalTask, volume: dict[str, Any],
                     file_system: dict[str, Any], point: dict[str, Any] | None) -> None:
        """MountRefused unless EFS would let the task's mount in: without a file system
        policy, every client reaching a mount target is; with one, the task role (IAM
        authorization on) must be allowed ClientMount with the mount's keys (TLS, its
        access point, which must be one of this file system's); an anonymous client
        gets nothing the policies Daskyard writes grant."""
        fs_id, fs_arn = file_system["FileSystemId"], file_system["FileSystemArn"]
        if self.mounts is None:
            return
        try:
            policy = json.loads(self.clients.efs.describe_file_system_policy(
                FileSystemId=fs_id)["Policy"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "PolicyNotFound":
                raise
            return
        refused = MountRefused(f"access denied by server while mounting {fs_id}")
        auth = volume.get("authorizationConfig") or {}
        context = {"aws:SecureTransport": "true" if volume.get("transitEncryption")
                   == "ENABLED" else "false",
                   "elasticfilesystem:AccessedViaMountTarget": "true"}
        if point is not None:
            if point["FileSystemId"] != fs_id:
                raise refused
            context["elasticfilesystem:AccessPointArn"] = point["AccessPointArn"]
        role = task.task_definition.get("taskRoleArn", "")
        if auth.get("iam") != "ENABLED" or not role or \
                not self.mounts(role, fs_arn, policy, context):
            raise refused

    def _sweep_folders(self) -> None:
        """A cluster's own folder goes with its file system (a named drive's stays)."""
        self.efs_changed.clear()
        tokens = {fs["CreationToken"] for page in
                  self.clients.efs.get_paginator("describe_file_systems").paginate()
                  for fs in page["FileSystems"]}
        for token, folder in list(self.own_folders.items()):
            if token not in tokens:
                del self.own_folders[token]
                shutil.rmtree(folder, ignore_errors=True)
                if self.guard is not None:
                    self.guard.drop_folder(folder)

    @staticmethod
    def _secret_value(value_from: str, secrets: Any) -> str:
        """A container secret as ECS resolves it: a Secrets Manager ARN, optionally
        followed by `:json-key:version-stage:version-id` (a key of the secret's JSON)."""
        if not value_from.startswith("arn:"):  # a secret's name, in the task's region
            return str(secrets.get_secret_value(SecretId=value_from)["SecretString"])
        parts = [*value_from.split(":"), "", "", ""]
        json_key, stage, version = parts[7:10]
        request = {"SecretId": ":".join(parts[:7]), "VersionStage": stage,
                   "VersionId": version}
        text = secrets.get_secret_value(
            **{k: v for k, v in request.items() if v})["SecretString"]
        return str(json.loads(text)[json_key]) if json_key else text

    def emit(self, task: LocalTask, status: str, reason: str = "", stop_code: str = "",
             exit_code: int | None = None) -> None:
        """The task's 'ECS Task State Change' event, as ECS sends it to EventBridge (the
        standalone tasks' runner sends theirs through it too)."""
        task.version += 1
        detail: dict[str, Any] = {
            "attachments": [{"id": str(uuid.uuid4()), "type": "eni",
                             "status": "ATTACHED" if status != "STOPPED" else "DELETED",
                             "details": [
                                 {"name": "subnetId", "value": "subnet-local"},
                                 {"name": "networkInterfaceId", "value": task.eni},
                                 {"name": "macAddress", "value": "0a:00:00:00:00:01"},
                                 {"name": "privateIPv4Address", "value": task.ip}]}],
            "availabilityZone": f"{self.clients.region}a",
            "clusterArn": task.cluster_arn,
            "containers": [{"containerArn": f"{task.arn}/container",
                            "lastStatus": status, "name": task.container["name"],
                            "image": task.container["image"], "taskArn": task.arn,
                            "networkInterfaces": [{"attachmentId": "local",
                                                   "privateIpv4Address": task.ip}],
                            "cpu": str(task.container.get("cpu", 0)),
                            "healthStatus": task.health}],
            "createdAt": task.created_at,
            "desiredStatus": "STOPPED" if status == "STOPPED" else "RUNNING",
            "group": task.group, "healthStatus": task.health, "launchType": "FARGATE",
            "lastStatus": status,
            "taskArn": task.arn, "taskDefinitionArn": task.task_definition["taskDefinitionArn"],
            "updatedAt": _now(), "version": task.version,
        }
        if status == "STOPPED":
            detail.update({"stoppedReason": reason, "stopCode": stop_code,
                           "stoppedAt": _now()})
            if task.scratch is not None:
                shutil.rmtree(task.scratch, ignore_errors=True)
            if exit_code is not None:
                detail["containers"][0]["exitCode"] = exit_code
        self.events.append(detail)
        self.clients.events.put_events(Entries=[{
            "Source": "aws.ecs", "DetailType": "ECS Task State Change",
            "Resources": [task.arn], "Detail": json.dumps(detail)}])
