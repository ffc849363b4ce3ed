"""`DaskyardCluster`: a `distributed.deploy.Cluster` backed by the Daskyard API, so
`Client(DaskyardCluster(workers=2))` works against local mode and a deployed API alike,
synchronously or with `asynchronous=True` / `async with`.

A new object creates a cluster (a fresh name unless given) and destroys it on `close()`
and, if never closed, when the interpreter exits. `DaskyardCluster.from_name` attaches to
a live cluster and never changes it unless asked (`scale`, `adapt`); the constructor
attaches too when the name is live already, says so, and leaves the cluster as it is.
Adaptive scaling runs in the cluster itself (the scheduler drives its workers service),
so it goes on after this process has gone."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import uuid
import weakref
from collections.abc import Callable, Generator
from typing import Any

from distributed.core import Status, rpc
from distributed.deploy.cluster import Cluster
from distributed.security import Security

from daskyard.client import DEFAULT_API, ApiError, DaskyardApi
from daskyard.credentials import LocalCredentials

LIVE = {"CREATING", "READY"}
Progress = Callable[[dict[str, Any]], None]


class ClusterFailed(RuntimeError):
    """The cluster did not become READY; the message carries the recorded reason."""


# Clusters this process made and has not closed: destroyed at interpreter exit, as
# SpecCluster and GatewayCluster do, so a script that forgets close() leaks nothing.
_made: weakref.WeakSet[DaskyardCluster] = weakref.WeakSet()


@atexit.register
def _destroy_at_exit() -> None:
    """Ask for the destroy (the orchestrator carries it out; no waiting at exit)."""
    for cluster in list(_made):
        if cluster.shutdown_on_close:
            with contextlib.suppress(Exception):  # the API may be gone already
                cluster.api.delete(cluster.name)


def list_clusters(api: str | None = None,
                  credentials: LocalCredentials | None = None) -> list[dict[str, Any]]:
    """The records of the clusters you may see (yours; an admin's: all)."""
    return DaskyardApi(_api_url(api), local=credentials).list()


def _api_url(api: str | None) -> str:
    return api or os.environ.get("DASKYARD_API", DEFAULT_API)


class DaskyardCluster(Cluster):
    """A Dask cluster on ECS, made by Daskyard.

    Parameters
    ----------
    name: cluster name (`^[a-z][a-z0-9-]{1,30}$`); default: a fresh `dask-xxxxxxxx`.
    workers: number of workers of a new cluster (default 2).
    api: Daskyard API URL (default `$DASKYARD_API`, else local mode's URL).
    create: create the cluster if no live one has this name (else attach only).
    shutdown_on_close: destroy the cluster on `close()` and at interpreter exit;
        default: if this object made it.
    asynchronous: use from a running event loop: `await DaskyardCluster(...,
        asynchronous=True)` or `async with DaskyardCluster(..., asynchronous=True)`.
    public: connect to the scheduler's public IP (default: when it has one).
    timeout: seconds to wait for READY, and for DELETED on close.
    on_progress: called with the record each time its status or step changes.
    credentials: a local API's keys (default: those `daskyard serve --local` wrote);
        a deployed API is signed with your AWS credentials.
    image, environment, tags, worker_cpu, worker_memory, worker_threads,
    idle_timeout_minutes, notebook, launch_type, ttl_hours, allowed_cidrs, drive...:
        further fields of the create request (see `daskyard up --help`).
    """

    def __init__(self, name: str | None = None, workers: int | None = None, *,
                 api: str | None = None, create: bool = True,
                 shutdown_on_close: bool | None = None, asynchronous: bool = False,
                 loop: Any = None, public: bool | None = None, timeout: float = 900,
                 on_progress: Progress | None = None,
                 credentials: LocalCredentials | None = None, quiet: bool = False,
                 **options: Any) -> None:
        self.api = DaskyardApi(_api_url(api), local=credentials)
        self.timeout = timeout
        self.on_progress = on_progress
        self.record: dict[str, Any] = {}
        self._request = {"name": name or f"dask-{uuid.uuid4().hex[:8]}",
                         **({"workers": workers} if workers is not None else {}), **options}
        self._create, self._public = create, public
        self._shutdown_on_close = shutdown_on_close
        self.shutdown_on_close = False  # until this object knows it made the cluster
        super().__init__(asynchronous=asynchronous, loop=loop, quiet=quiet,
                         name=self._request["name"])
        if not self.asynchronous:
            self._loop_runner.start()
            try:
                self.sync(self._start)
            except BaseException:
                self._loop_runner.stop()
                raise

    @classmethod
    def from_name(cls, name: str, **kwargs: Any) -> DaskyardCluster:
        """Attach to the live cluster `name`; closing leaves it running unless
        `shutdown_on_close=True`."""
        return cls(name, create=False, **kwargs)

    def __await__(self) -> Generator[Any, None, DaskyardCluster]:
        async def started() -> DaskyardCluster:
            if self.status == Status.created:
                await self._start()
            return self
        return started().__await__()

    async def _start(self) -> None:
        if self.status != Status.created:
            return
        self.status = Status.starting
        made = False
        try:
            made = await asyncio.to_thread(self._create_or_attach)
            self.shutdown_on_close = made if self._shutdown_on_close is None \
                else self._shutdown_on_close
            if made:
                _made.add(self)
            self.record = await asyncio.to_thread(self._wait_ready)
            self.security = await asyncio.to_thread(self._security)
            self.scheduler_comm = rpc(self._address(self._public),
                                      connection_args=self.security.get_connection_args("client"))
            await super()._start()
        except BaseException:
            self.status = Status.closed  # nothing to close: no warning at collection
            if self.scheduler_comm is not None:
                await self.scheduler_comm.close_rpc()
            if made:  # nothing this object made outlives a failed start
                await asyncio.to_thread(self._destroy)
            raise

    def _create_or_attach(self) -> bool:
        """True when this object created the cluster, False when it attaches."""
        name = self.name
        try:
            found = self.api.get(name)
        except ApiError as exc:
            if exc.status != 404:
                raise
        else:
            if found["status"] in LIVE:
                self._log_attached(found)
                return False
        if not self._create:
            raise ClusterFailed(f"no live cluster named {name!r} to attach to")
        try:
            self.api.create(self._request)
            self._log(f"creating cluster {name!r}")
            return True
        except ApiError as exc:
            if exc.status != 409:
                raise
            self._log_attached(self.api.get(name))  # someone made it meanwhile
            return False

    def _log_attached(self, record: dict[str, Any]) -> None:
        asked = {k: v for k, v in self._request.items()
                 if k != "name" and record["spec"].get(k) != v}
        note = f"; not applied: {sorted(asked)} (use scale() or adapt())" if asked else ""
        self._log(f"attached to the live cluster {record['name']!r} ({record['status']}, "
                  f"{record['spec']['workers']} workers), left as it is{note}")

    def _wait_ready(self) -> dict[str, Any]:
        record = self.api.wait(self.name, {"READY", "FAILED", "DELETED", "DELETING"},
                               timeout=self.timeout, on_change=self.on_progress)
        if record["status"] != "READY":
            raise ClusterFailed(f"cluster {self.name!r} is {record['status']}: "
                                f"{record.get('error') or 'destroyed before it was ready'}")
        return record

    def _security(self) -> Security:
        """The cluster's CA and a client certificate, held in memory only: what
        `Client(cluster)` connects with (the scheduler refuses anyone without one)."""
        found = self.api.credentials(self.name)
        self._dashboard_token = str(found.get("dashboard_token") or "")
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

    def _destroy(self) -> None:
        _made.discard(self)
        try:
            self.api.delete(self.name)
        except ApiError as exc:
            if exc.status not in (404, 409):  # gone, or already being deleted
                raise
        self.api.wait(self.name, {"DELETED", "FAILED"}, timeout=self.timeout,
                      on_change=self.on_progress)

    @property
    def dashboard_link(self) -> str:
        """The URL the orchestrator published (public when there is one), with the
        cluster's token once this object holds its credentials: the dashboard is HTTPS
        behind that token (a browser keeps it as a cookie after the first visit)."""
        link = str(self.record.get("dashboard_url") or super().dashboard_link)
        if not link.startswith("https://"):
            return link
        token = getattr(self, "_dashboard_token", None)
        if token is None:  # not fetched with the credentials yet: the owner's to ask
            try:
                token = str(self.api.credentials(self.name).get("dashboard_token") or "")
            except ApiError:
                token = ""
            self._dashboard_token = token
        return f"{link}?token={token}" if token else link

    def scale(self, n: int) -> None:
        """Set the workers service to `n` (turning adaptive scaling off); the scheduler
        sees them as they start."""
        self.record = self.api.scale(self.name, n)

    def adapt(self, minimum: int = 0, maximum: int | None = None,  # type: ignore[override]
              **options: Any) -> dict[str, Any]:
        """Let the cluster size itself between `minimum` and `maximum` workers, from its
        scheduler's own adaptive target; it goes on without this client. Returns the
        recorded bounds. `scale(n)` turns it off."""
        if options:  # distributed's Adaptive takes more; the scheduler's runs on its own
            raise TypeError(f"adapt takes minimum= and maximum= only, not "
                            f"{', '.join(sorted(options))}: the scheduler adapts with "
                            "distributed's defaults (interval, wait_count, target_duration)")
        if maximum is None:
            raise ValueError("adapt needs maximum= (the most workers to pay for)")
        self.record = self.api.adapt(self.name, minimum, maximum)
        return dict(self.record.get("adapt") or {})

    def close(self, timeout: float | None = None) -> Any:
        out = super().close(timeout)
        if not self.asynchronous:
            self._loop_runner.stop()
        return out

    async def _close(self) -> None:
        await super()._close()
        if self.shutdown_on_close:
            self.shutdown_on_close = False
            await asyncio.to_thread(self._destroy)

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
        workers = self.record.get("spec", {}).get("workers", self._request.get("workers"))
        return (f"DaskyardCluster({self.name!r}, workers={workers}, "
                f"scheduler={self.scheduler_address!r})")
