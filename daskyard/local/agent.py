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
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from chalicelib.core import naming
from chalicelib.core.aws import Clients
from daskyard.local import SERVER_ROOT

log = logging.getLogger("daskyard.local")
ENTRYPOINT = SERVER_ROOT / "images" / "entrypoint.py"


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
    handle: Any = None

    @property
    def container(self) -> dict[str, Any]:
        return dict(self.task_definition["containerDefinitions"][0])


class Runner(Protocol):
    def start(self, task: LocalTask, env: dict[str, str]) -> Any: ...
    def exited(self, handle: Any) -> bool: ...
    def stop(self, handle: Any) -> None: ...


class NullRunner:
    """Tasks that run nothing: the control plane alone."""

    def start(self, task: LocalTask, env: dict[str, str]) -> Any:
        return threading.Event()

    def exited(self, handle: Any) -> bool:
        return bool(handle.is_set())

    def stop(self, handle: Any) -> None:
        handle.set()


class ProcessRunner:
    """Each task is the images' entrypoint run as a local process."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, task: LocalTask, env: dict[str, str]) -> Any:
        role = task.container["command"][0]
        out = open(self.log_dir / f"{role}-{task.arn.rsplit('/', 1)[-1][:8]}.log", "ab")  # noqa: SIM115
        return subprocess.Popen([sys.executable, str(ENTRYPOINT), role], env=env,  # nosec B603  # this interpreter, our entrypoint
                                stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def exited(self, handle: Any) -> bool:
        return handle.poll() is not None

    def stop(self, handle: Any) -> None:
        if handle.poll() is None:
            os.killpg(handle.pid, signal.SIGTERM)
            try:
                handle.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(handle.pid, signal.SIGKILL)
                handle.wait()


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
                 interval: float = 0.2, resync: float = 2.0) -> None:
        self.clients = clients
        self.runner = runner
        self.efs_root = efs_root
        # Tasks are checked for exits every `interval` s (locally); ECS is asked for its
        # services when `wake` is set (a service changed) and at least every `resync` s.
        self.interval = interval
        self.resync = resync
        self.wake = threading.Event()
        self.tasks: dict[str, list[LocalTask]] = {}  # service ARN -> its tasks
        self.events: list[dict[str, Any]] = []
        self._ips = free_loopback_ips()
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

    def running(self, group_suffix: str = "") -> list[LocalTask]:
        with self._lock:
            return [t for ts in self.tasks.values() for t in ts
                    if t.group.endswith(group_suffix)]

    def kill(self, task: LocalTask) -> None:
        """Stop a task's process from outside, as a crash would."""
        self.runner.stop(task.handle)

    # --- the loop --------------------------------------------------------------------
    def _loop(self) -> None:
        synced = 0.0
        while not self._stop.is_set():
            woken = self.wake.wait(self.interval)
            self.wake.clear()
            if self._stop.is_set():
                return
            if not (woken or time.monotonic() - synced >= self.resync or self._exited()):
                continue
            try:
                self.reconcile()
                synced = time.monotonic()
            except Exception:  # the emulator may be resetting between tests
                log.exception("ecs agent reconcile failed")

    def _exited(self) -> bool:
        """A task's process has ended (ECS would see its container stop)."""
        with self._lock:
            return any(self.runner.exited(t.handle) for ts in self.tasks.values() for t in ts)

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

    def _scale_to(self, service_arn: str, tasks: list[LocalTask], desired: int,
                  svc: dict[str, Any] | None) -> None:
        alive = []
        for task in tasks:
            if self.runner.exited(task.handle):
                self._emit(task, "STOPPED", "Essential container in task exited")
            else:
                alive.append(task)
        while len(alive) > desired:
            task = alive.pop()
            self.runner.stop(task.handle)
            self._emit(task, "STOPPED", "Scaling activity initiated by deployment")
        while svc is not None and len(alive) < desired:
            alive.append(self._launch(svc))
        if alive:
            self.tasks[service_arn] = alive
        else:
            self.tasks.pop(service_arn, None)

    def _launch(self, svc: dict[str, Any]) -> LocalTask:
        td = self.clients.ecs.describe_task_definition(
            taskDefinition=svc["taskDefinition"])["taskDefinition"]
        cluster_name = svc["clusterArn"].rsplit("/", 1)[-1]
        task = LocalTask(
            arn=f"{svc['clusterArn'].replace(':cluster/', ':task/')}/{uuid.uuid4().hex}",
            cluster_arn=svc["clusterArn"], group=f"service:{svc['serviceName']}",
            task_definition=dict(td), ip=next(self._ips), eni=f"eni-{uuid.uuid4().hex[:17]}")
        log.info("starting %s task on %s in %s", svc["serviceName"], task.ip, cluster_name)
        self._emit(task, "PENDING")
        task.handle = self.runner.start(task, self._task_env(task))
        self._emit(task, "RUNNING")
        return task

    def _task_env(self, task: LocalTask) -> dict[str, str]:
        """What ECS gives a container: its environment, its secrets resolved, the
        task role's credentials (here, the emulator's), the EFS volume mounted."""
        container = task.container
        env = {k: v for k, v in os.environ.items()
               if k.startswith(("AWS_", "PATH", "HOME", "LANG", "PYTHON", "VIRTUAL_ENV"))}
        env.update({e["name"]: e["value"] for e in container.get("environment", [])})
        for secret in container.get("secrets", []):
            env[secret["name"]] = self._secret_value(secret["valueFrom"])
        cluster = env.get("DASKYARD_CLUSTER", "unknown")
        efs = self.efs_root / cluster
        efs.mkdir(parents=True, exist_ok=True)
        env.update({"DASKYARD_HOST": task.ip, "DASKYARD_EFS": str(efs)})
        return env

    def _secret_value(self, value_from: str) -> str:
        """A container secret as ECS resolves it: a Secrets Manager ARN, optionally
        followed by `:json-key:version-stage:version-id` (a key of the secret's JSON)."""
        if not value_from.startswith("arn:"):  # a secret's name, in the task's region
            return str(self.clients.secrets.get_secret_value(SecretId=value_from)[
                "SecretString"])
        parts = [*value_from.split(":"), "", "", ""]
        json_key, stage, version = parts[7:10]
        request = {"SecretId": ":".join(parts[:7]), "VersionStage": stage,
                   "VersionId": version}
        text = self.clients.secrets.get_secret_value(
            **{k: v for k, v in request.items() if v})["SecretString"]
        return str(json.loads(text)[json_key]) if json_key else text

    def _emit(self, task: LocalTask, status: str, reason: str = "") -> None:
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
                            "cpu": str(task.container.get("cpu", 0))}],
            "createdAt": task.created_at,
            "desiredStatus": "STOPPED" if status == "STOPPED" else "RUNNING",
            "group": task.group, "launchType": "FARGATE", "lastStatus": status,
            "taskArn": task.arn, "taskDefinitionArn": task.task_definition["taskDefinitionArn"],
            "updatedAt": _now(), "version": task.version,
        }
        if status == "STOPPED":
            detail.update({"stoppedReason": reason, "stopCode": "EssentialContainerExited",
                           "stoppedAt": _now()})
            code = getattr(task.handle, "returncode", None)  # a process's, as ECS reports it
            if code is not None:
                detail["containers"][0]["exitCode"] = code
        self.events.append(detail)
        self.clients.events.put_events(Entries=[{
            "Source": "aws.ecs", "DetailType": "ECS Task State Change",
            "Resources": [task.arn], "Detail": json.dumps(detail)}])
