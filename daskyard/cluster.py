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
import hashlib
import html
import math
import time
import uuid
import weakref
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dask.utils import parse_bytes, parse_timedelta
from distributed.core import Status, rpc
from distributed.deploy.cluster import Cluster
from distributed.security import Security

from daskyard import config
from daskyard.client import ApiError, DaskyardApi
from daskyard.credentials import LocalCredentials, data_dir

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


def list_clusters(api: str | None = None, credentials: LocalCredentials | None = None,
                  status: str | None = None) -> list[dict[str, Any]]:
    """The records of the clusters you may see (yours; an admin's: all), in `status`
    (comma-separated) when given."""
    return DaskyardApi(config.api_url(api), local=credentials).list(status)


async def discover(api: str | None = None) -> Any:
    """dask-ctl's `dask_cluster_discovery` entry point: (name, class) of each of the
    caller's live clusters, which `DaskyardCluster.from_name(name)` attaches to."""
    records = await asyncio.to_thread(list_clusters, api, None, ",".join(sorted(LIVE)))
    for record in records:
        yield record["name"], DaskyardCluster


def _seconds(value: Any) -> float | None:
    return None if value is None else float(parse_timedelta(value, default="seconds"))


class DaskyardAdaptive:
    """What `DaskyardCluster.adapt()` returns, shaped as `distributed.deploy.Adaptive`
    (`minimum`, `maximum`, `interval`, `wait_count`, `target_duration`, `stop()`): the
    decisions are the cluster's scheduler's, which reads these from the orchestrator and
    goes on without this process. In asynchronous mode the request runs in the
    background (`await` the object for its outcome); `error` holds a refusal."""

    def __init__(self, cluster: DaskyardCluster, minimum: int, maximum: int | None,
                 interval: float | None = None, wait_count: int | None = None,
                 target_duration: float | None = None) -> None:
        self.cluster = cluster
        self.minimum, self.maximum = minimum, maximum
        self.interval, self.wait_count = interval, wait_count
        self.target_duration = target_duration
        self.error: BaseException | None = None
        self.periodic_callback = True  # distributed's widget reads it as "adapting"
        self._request: asyncio.Future[Any] | None = None

    def request(self) -> dict[str, Any]:
        """The body of `PUT /clusters/{name}/adapt` (no maximum: the stage's)."""
        body: dict[str, Any] = {"minimum": self.minimum, "maximum": self.maximum}
        for key in ("interval", "wait_count", "target_duration"):
            if getattr(self, key) is not None:
                body[key] = getattr(self, key)
        return body

    def recorded(self, bounds: dict[str, Any]) -> None:
        """The bounds the orchestrator recorded (a maximum it chose included)."""
        self.minimum = int(bounds.get("minimum", self.minimum))
        self.maximum = bounds.get("maximum", self.maximum)

    def stop(self) -> None:
        """Adaptive scaling off: the workers stay as they are."""
        if self.periodic_callback:
            self.periodic_callback = False
            self.cluster._adapt_off(self)

    def __await__(self) -> Generator[Any, None, DaskyardAdaptive]:
        async def done() -> DaskyardAdaptive:
            if self._request is not None:
                await self._request
            if self.error is not None:
                raise self.error
            return self
        return done().__await__()

    def __repr__(self) -> str:
        return f"<DaskyardAdaptive minimum={self.minimum} maximum={self.maximum}>"


class DaskyardCluster(Cluster):
    """A Dask cluster on ECS, made by Daskyard.

    Parameters
    ----------
    Every default below comes from dask config's `daskyard:` section when it sets one
    (daskyard/daskyard.yaml lists the keys); an argument given wins.

    name: cluster name (`^[a-z][a-z0-9-]{1,30}$`); default: a fresh `dask-xxxxxxxx`.
    workers: number of workers of a new cluster (default 2).
    api: Daskyard API URL (default `$DASKYARD_API`, `daskyard.api`, else the local API
        `daskyard serve --local` last started).
    wait_for_workers: after READY, wait until this many workers have joined (True: as
        many as the cluster asks for), as `Client.wait_for_workers` would.
    create: create the cluster if no live one has this name (else attach only).
    shutdown_on_close: destroy the cluster on `close()` and at interpreter exit;
        default: if this object made it.
    asynchronous: use from a running event loop: `await DaskyardCluster(...,
        asynchronous=True)` or `async with DaskyardCluster(..., asynchronous=True)`.
    public: connect to the scheduler's public IP (default: when it has one).
    timeout: seconds to wait for READY, and for DELETED on close.
    on_progress: called with the record each time its status or step changes; default:
        each step printed as it passes (`quiet=True`: nothing).
    credentials: a local API's keys (default: those `daskyard serve --local` wrote);
        a deployed API is signed with your AWS credentials.
    image, environment, tags, worker_cpu, worker_memory, worker_threads,
    idle_timeout_minutes, notebook, launch_type, ttl_hours, allowed_cidrs, drive...:
        further fields of the create request (see `daskyard up --help`).
    """

    def __init__(self, name: str | None = None, workers: int | None = None, *,
                 api: str | None = None, create: bool = True,
                 shutdown_on_close: bool | None = None, asynchronous: bool = False,
                 loop: Any = None, public: bool | None = None, timeout: float | None = None,
                 on_progress: Progress | None = None,
                 credentials: LocalCredentials | None = None, quiet: bool = False,
                 wait_for_workers: int | bool | None = None,
                 **options: Any) -> None:
        self.api = DaskyardApi(config.api_url(api), local=credentials)
        self.timeout = float(timeout if timeout is not None else config.get("timeout", 900))
        self.on_progress = on_progress if on_progress is not None or quiet else self._progress
        self.record: dict[str, Any] = {}
        self.steps: list[dict[str, Any]] = []  # the create's steps, as the CLI shows them
        given = {"workers": workers} if workers is not None else {}
        self._request = {"name": name or f"dask-{uuid.uuid4().hex[:8]}",
                         **config.spec_defaults(), **given, **options}
        self._workers_to_wait = wait_for_workers if wait_for_workers is not None \
            else config.get("wait_for_workers")
        self._create, self._public = create, public
        self._shutdown_on_close = shutdown_on_close
        self.shutdown_on_close = False  # until this object knows it made the cluster
        self._daskyard_adaptive: DaskyardAdaptive | None = None
        self._started_at = time.monotonic()
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
            if self.record.get("adapt"):  # attached to a cluster that adapts
                self._daskyard_adaptive = DaskyardAdaptive(self, 0, None)
                self._daskyard_adaptive.recorded(self.record["adapt"])
            wanted = self._workers_wanted()
            if wanted:
                self._log(f"waiting for {wanted} workers")
                await self._wait_for_workers(wanted, timeout=self.timeout)
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

    def _workers_wanted(self) -> int:
        wanted = self._workers_to_wait
        if wanted is True:
            return int(self.record.get("spec", {}).get("workers", 0))
        return int(wanted or 0)

    def _progress(self, record: dict[str, Any]) -> None:
        """The default progress: each status and step as the record passes it, timed
        from the start (as `daskyard up` shows them), in this object's logs too."""
        self._log(f"  {time.monotonic() - self._started_at:6.2f}s  {record['status']:<9} "
                  f"{record['step']}")

    def _wait_ready(self) -> dict[str, Any]:
        record = self.api.wait(self.name, {"READY", "FAILED", "DELETED", "DELETING"},
                               timeout=self.timeout, on_change=self.on_progress)
        if record["status"] != "READY":
            raise ClusterFailed(f"cluster {self.name!r} is {record['status']}: "
                                f"{record.get('error') or 'destroyed before it was ready'}")
        with contextlib.suppress(ApiError):  # the steps are for show: never fail on them
            self.steps = list(self.api.events(self.name)["steps"])
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
                token = ""  # nosec B105  # no token: the link without one
            self._dashboard_token = token
        return f"{link}?token={token}" if token else link

    def dashboard_access(self) -> tuple[str, str, str]:
        """The dashboard as its owner reaches it from a server (daskyard.jupyter, which
        shows its plots in JupyterLab's Dask pane): `https://host:port`, the cluster's
        CA (PEM, the only one its certificate is checked against) and its token.
        Secret: for a request's TLS options and header, never for a URL or a log."""
        parsed = urlparse(str(self.record.get("dashboard_url") or ""))
        ca = getattr(getattr(self, "security", None), "tls_ca_file", None)
        token = getattr(self, "_dashboard_token", "")
        if parsed.scheme != "https" or not (ca and token):
            raise ClusterFailed(f"cluster {self.name!r} has no HTTPS dashboard with a "
                                "token to reach (not READY yet?)")
        return f"https://{parsed.netloc}", str(ca), token

    @property
    def drive(self) -> str:
        """Where the cluster's shared drive is on its workers and notebook: /efs on AWS;
        in local mode, the folder of this machine that is the drive (a named drive's
        `drives/<name>`, else the cluster's own `efs/<cluster>` in the data directory).
        Write there from dask (`df.to_parquet(f"{cluster.drive}/events")`), not to a
        relative path, which is the client's working directory."""
        if not self.api.is_local:
            return "/efs"
        named = self.record.get("spec", {}).get("drive") or self._request.get("drive")
        local = self.api.local
        root = Path(local.data_dir) if local is not None and local.data_dir else data_dir()
        if not named:
            return str(root / "efs" / self.name)
        # A named drive's clusters mount their owner's folder of it (the access point's
        # root, chalicelib.core.naming.Names.drive_root: the user side imports no server).
        owner = hashlib.sha256(str(self.record.get("owner", "")).encode()).hexdigest()[:32]
        return str(root / "drives" / named / "owners" / owner)

    def _in_background(self, call: Callable[[], dict[str, Any]]) -> asyncio.Future[Any]:
        """Asynchronous mode: the API call in a thread, so the event loop never blocks
        on HTTP; the record follows when it answers."""
        async def run() -> None:
            self.record = await asyncio.to_thread(call)
        return asyncio.ensure_future(run())

    def scale(self, n: int) -> Any:
        """Set the workers service to `n` (turning adaptive scaling off); the scheduler
        sees them as they start. Asynchronous mode: returns an awaitable, already
        under way."""
        if self._daskyard_adaptive is not None:
            self._daskyard_adaptive.periodic_callback = False  # scale turns it off
            self._daskyard_adaptive = None
        if self.asynchronous:
            return self._in_background(lambda: self.api.scale(self.name, n))
        self.record = self.api.scale(self.name, n)
        return None

    def adapt(self, minimum: int = 0, maximum: float = math.inf,  # type: ignore[override]
              minimum_cores: int | None = None, maximum_cores: int | None = None,
              minimum_memory: str | None = None, maximum_memory: str | None = None,
              interval: Any = None, wait_count: int | None = None,
              target_duration: Any = None, **options: Any) -> DaskyardAdaptive:
        """Let the cluster size itself between `minimum` and `maximum` workers, as
        distributed's `Cluster.adapt`: cores and memory bounds become workers of this
        cluster's size; `interval`, `wait_count` and `target_duration` go to the
        scheduler's adaptive loop, which runs in the cluster and goes on without this
        client. No `maximum`: the stage's maximum, as your quota allows. Returns an
        object with `minimum`, `maximum` and `stop()`; `scale(n)` turns it off."""
        if options:
            raise TypeError(f"adapt() got unexpected keyword arguments "
                            f"{', '.join(sorted(options))}: the scheduler's adaptive loop "
                            "takes minimum, maximum, the cores and memory bounds, interval, "
                            "wait_count and target_duration")
        if minimum_cores is not None:
            minimum = max(minimum, math.ceil(minimum_cores / self._threads_per_worker()))
        if maximum_cores is not None:
            maximum = min(maximum, maximum_cores // self._threads_per_worker())
        if minimum_memory is not None:
            minimum = max(minimum, math.ceil(parse_bytes(minimum_memory)
                                             / self._memory_per_worker()))
        if maximum_memory is not None:
            maximum = min(maximum, parse_bytes(maximum_memory) // self._memory_per_worker())
        adaptive = DaskyardAdaptive(
            self, int(minimum), None if math.isinf(maximum) else int(maximum),
            interval=_seconds(interval),
            wait_count=int(wait_count) if wait_count is not None else None,
            target_duration=_seconds(target_duration))
        if self._daskyard_adaptive is not None:
            self._daskyard_adaptive.periodic_callback = False  # replaced, not stopped
        self._daskyard_adaptive = adaptive
        body = adaptive.request()
        if self.asynchronous:
            adaptive._request = self._in_background(
                lambda: self._adapted(adaptive, self.api.adapt_with(self.name, body)))
            adaptive._request.add_done_callback(lambda done: self._failed(adaptive, done))
        else:
            self.record = self._adapted(adaptive, self.api.adapt_with(self.name, body))
        return adaptive

    def _adapted(self, adaptive: DaskyardAdaptive, record: dict[str, Any]) -> dict[str, Any]:
        adaptive.recorded(record.get("adapt") or {})
        return record

    def _failed(self, adaptive: DaskyardAdaptive, done: asyncio.Future[Any]) -> None:
        """A refused adapt in the background: on the object, in the logs; not adapting."""
        if not done.cancelled() and done.exception() is not None:
            adaptive.error = done.exception()
            adaptive.periodic_callback = False
            if self._daskyard_adaptive is adaptive:
                self._daskyard_adaptive = None
            self._log(f"adapt refused: {adaptive.error}")

    def _adapt_off(self, adaptive: DaskyardAdaptive) -> None:
        if self._daskyard_adaptive is adaptive:
            self._daskyard_adaptive = None
        if self.asynchronous:
            self._in_background(lambda: self.api.adapt(self.name, None, None))
        else:
            self.record = self.api.adapt(self.name, None, None)

    @property
    def adaptive(self) -> DaskyardAdaptive | None:
        """The adaptive scaling this object started or found, or None."""
        return self._daskyard_adaptive

    def _threads_per_worker(self) -> int:
        spec = {**self._request, **self.record.get("spec", {})}
        return int(spec.get("worker_threads") or max(1, int(spec.get("worker_cpu", 1024))
                                                      // 1024))

    def _memory_per_worker(self) -> int:
        spec = {**self._request, **self.record.get("spec", {})}
        return int(spec.get("worker_memory", 4096)) * 2**20

    def _scaling_status(self) -> str:
        adaptive = self._daskyard_adaptive
        if adaptive is not None:
            return (f"<table><tr><td style='text-align: left;'>Scaling mode: Adaptive "
                    f"({adaptive.minimum}-{adaptive.maximum} workers, by the scheduler)"
                    f"</td></tr></table>")
        workers = self.record.get("spec", {}).get("workers", "?")
        return (f"<table><tr><td style='text-align: left;'>Scaling mode: Manual, "
                f"{workers} workers</td></tr></table>")

    def _repr_html_(self, cluster_status: str | None = None) -> str:
        """distributed's Cluster widget, with the record: status, workers (desired and
        running), estimated cost, the drive, the links and the create's steps."""
        record = self.record
        rows = [("Status", record.get("status", self.status.name))]
        if record.get("spec"):
            running = record.get("workers_running")
            rows.append(("Workers", f"{record['spec']['workers']} desired"
                         + (f", {running} running" if running is not None else "")))
        if record.get("cost_per_hour"):
            rows.append(("Cost", f"${float(record['cost_per_hour']):.3f}/h estimated"))
        rows.append(("Drive", self.drive))
        for key, label in (("dashboard_url", "Dashboard"), ("notebook_url", "Notebook")):
            if record.get(key):
                url = html.escape(str(record[key]))
                rows.append((label, f"<a href='{url}' target='_blank'>{url}</a>"))
        steps = "".join(f"<tr><td>{html.escape(str(s['name']))}</td>"
                        f"<td>{html.escape(str(s['outcome']))}</td></tr>" for s in self.steps)
        table = "".join(f"<tr><td style='text-align: left;'><strong>{k}:</strong> {v}</td></tr>"
                        if k in ("Dashboard", "Notebook") else
                        f"<tr><td style='text-align: left;'><strong>{k}:</strong> "
                        f"{html.escape(str(v))}</td></tr>" for k, v in rows)
        status = f"<table>{table}</table>" + (
            f"<details><summary>Steps</summary><table>{steps}</table></details>"
            if steps else "")
        return str(super()._repr_html_(cluster_status=(cluster_status or "") + status))

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
