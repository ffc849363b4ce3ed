"""`DaskyardCluster`: a `distributed.deploy.Cluster` backed by the Daskyard API, so
`Client(DaskyardCluster("demo", workers=2))` works against local mode and a deployed
API alike. It creates the cluster, or attaches to a live one of that name; `scale`
sets the worker service; `close` destroys what this object created."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from distributed.core import Status, rpc
from distributed.deploy.cluster import Cluster
from distributed.security import Security

from daskyard.client import ApiError, DaskyardApi
from daskyard.credentials import LocalCredentials

DEFAULT_API = "http://127.0.0.1:8000"
LIVE = {"CREATING", "READY"}
Progress = Callable[[dict[str, Any]], None]


class ClusterFailed(RuntimeError):
    """The cluster did not become READY; the message carries the recorded reason."""


class DaskyardCluster(Cluster):
    """A Dask cluster on ECS, made by Daskyard.

    Parameters
    ----------
    name: cluster name (`^[a-z][a-z0-9-]{1,30}$`).
    workers: number of workers; for an attached cluster, scale to this if given.
    api: Daskyard API URL (default `$DASKYARD_API`, else local mode's URL).
    create: create the cluster if no live one has this name (else attach only).
    shutdown_on_close: destroy the cluster on `close()`; default: if this object made it.
    public: connect to the scheduler's public IP (default: when it has one).
    timeout: seconds to wait for READY, and for DELETED on close.
    on_progress: called with the record each time its status or step changes.
    credentials: a local API's keys (default: those `daskyard serve --local` wrote);
        a deployed API is signed with your AWS credentials.
    **options: further fields of a create request (notebook, launch_type, ttl_hours...).
    """

    def __init__(self, name: str, workers: int | None = None, *, api: str | None = None,
                 create: bool = True, shutdown_on_close: bool | None = None,
                 public: bool | None = None, timeout: float = 900,
                 on_progress: Progress | None = None,
                 credentials: LocalCredentials | None = None, **options: Any) -> None:
        self.api = DaskyardApi(api or os.environ.get("DASKYARD_API", DEFAULT_API),
                               local=credentials)
        self.timeout = timeout
        self.on_progress = on_progress
        super().__init__(asynchronous=False, name=name)
        made = self._create_or_attach(name, workers, create, options)
        self.shutdown_on_close = made if shutdown_on_close is None else shutdown_on_close
        try:
            self.record = self._wait_ready(name)
            if not made and workers is not None and workers != self.record["spec"]["workers"]:
                self.record = self.api.scale(name, workers)
            self.security = self._security(name)
            self.scheduler_comm = rpc(self._address(public),
                                      connection_args=self.security.get_connection_args("client"))
            self._loop_runner.start()
            self.sync(self._start)
        except BaseException:
            self.status = Status.closed
            self._loop_runner.stop()
            if made:  # nothing this object made outlives a failed start
                self._destroy()
            raise

    def _security(self, name: str) -> Security:
        """The cluster's CA and a client certificate, held in memory only: what
        `Client(cluster)` connects with (the scheduler refuses anyone without one)."""
        found = self.api.credentials(name)
        return Security(require_encryption=True, tls_ca_file=found["ca"],
                        tls_client_cert=found["cert"], tls_client_key=found["key"])

    def _address(self, public: bool | None) -> str:
        """The scheduler's address; its public IP when it has one (unless told)."""
        address = str(self.record["scheduler_address"])
        use_public = bool(self.record.get("public_ip")) if public is None else public
        if use_public:
            scheme, rest = address.split("://", 1)
            return f"{scheme}://{self.record['public_ip']}:{rest.rsplit(':', 1)[1]}"
        return address

    def _create_or_attach(self, name: str, workers: int | None, create: bool,
                          options: dict[str, Any]) -> bool:
        """True when this object created the cluster, False when it attaches."""
        try:
            if self.api.get(name)["status"] in LIVE:
                return False
        except ApiError as exc:
            if exc.status != 404:
                raise
        if not create:
            raise ClusterFailed(f"no live cluster named {name!r} to attach to")
        spec = {"name": name, **({"workers": workers} if workers is not None else {}),
                **options}
        try:
            self.api.create(spec)
            return True
        except ApiError as exc:
            if exc.status == 409:  # someone made it meanwhile: attach
                return False
            raise

    def _wait_ready(self, name: str) -> dict[str, Any]:
        record = self.api.wait(name, {"READY", "FAILED", "DELETED", "DELETING"},
                               timeout=self.timeout, on_change=self.on_progress)
        if record["status"] != "READY":
            raise ClusterFailed(f"cluster {name!r} is {record['status']}: "
                                f"{record.get('error') or 'destroyed before it was ready'}")
        return record

    def _destroy(self) -> None:
        try:
            self.api.delete(self.name)
        except ApiError as exc:
            if exc.status not in (404, 409):  # gone, or already being deleted
                raise
        self.api.wait(self.name, {"DELETED", "FAILED"}, timeout=self.timeout,
                      on_change=self.on_progress)

    @property
    def dashboard_link(self) -> str:
        """The URL the orchestrator published (public when there is one)."""
        return str(self.record.get("dashboard_url") or super().dashboard_link)

    def scale(self, n: int) -> None:
        """Set the workers service to `n`; the scheduler sees them as they start."""
        self.record = self.api.scale(self.name, n)

    def close(self, timeout: float | None = None) -> Any:
        out = super().close(timeout)
        self._loop_runner.stop()
        return out

    async def _close(self) -> None:
        await super()._close()
        if self.shutdown_on_close:
            self.shutdown_on_close = False
            await asyncio.get_running_loop().run_in_executor(None, self._destroy)

    async def _get_logs(self, cluster: bool = True, scheduler: bool = True,
                        workers: Any = True) -> Any:
        """distributed's logs (this object's, and what the scheduler and workers keep in
        memory) and each task's container output from CloudWatch Logs, keyed
        `<role>/<task id>`: what a task printed before dask started, or as it died."""
        from distributed.utils import Log

        logs = await super()._get_logs(cluster=cluster, scheduler=scheduler, workers=workers)
        lines = await asyncio.get_running_loop().run_in_executor(
            None, self.api.log_lines, self.name)
        for event in lines:
            key = f"{event['role']}/{event['task']}"
            logs[key] = Log(f"{logs[key]}\n{event['message']}" if key in logs
                            else event["message"])
        return logs

    def __repr__(self) -> str:
        return (f"DaskyardCluster({self.name!r}, workers={self.record['spec']['workers']}, "
                f"scheduler={self.scheduler_address!r})")

