"""Daskyard's scheduler plugin, loaded by the entrypoint (`dask scheduler --preload
daskyard_scheduler`, run as `python daskyard_scheduler.py ARGS`: see `main`). It does two
things the cluster must do on its own, with no client around:

Adaptive scaling. Every DASKYARD_ADAPT_INTERVAL seconds it reads its bounds, the JSON
`{"minimum", "maximum"}` the API writes to the SSM parameter DASKYARD_ADAPT_PARAMETER
(absent: adaptive scaling is off and the workers are left as they are), with the
options of distributed's Adaptive the user gave (`interval`, `wait_count`,
`target_duration` in seconds), and runs
distributed's own adaptive logic (AdaptiveCore): the scheduler's adaptive target,
clamped to the bounds; a worker is let go only after it was chosen `wait_count` times
in a row, and the scheduler's `workers_to_close` chooses those holding least data. Up is
a larger worker count asked for; down retires the chosen workers first (their data moved
to the others, then closed) and then asks for fewer, so ECS has no data-holding task to
pick. The count is asked for in the cluster's DASKYARD_DESIRED_PARAMETER, which the
orchestrator applies to the workers service within the bounds: the task role reads this
cluster's bounds and workers service and writes that one parameter, nothing else.

Idle shutdown. dask closes a scheduler idle past `--idle-timeout` (no task processing,
queued or unrunnable); dask does not count clients, Daskyard does: while any client is
connected the idle clock is held at now. When the timeout fires, the scheduler exits with
EXIT_IDLE, which the ECS task event tells the orchestrator: it destroys the cluster.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, MutableMapping
from typing import Any

from distributed import Scheduler, SchedulerPlugin
from distributed.deploy.adaptive_core import AdaptiveCore
from tornado.ioloop import PeriodicCallback

log = logging.getLogger("daskyard.scheduler")
EXIT_IDLE = 75  # chalicelib.core.naming.EXIT_IDLE: the orchestrator reads it
PENDING = "pending-"  # stands for a worker task ECS was asked for that has not joined yet
# The client every scheduler has for fire_and_forget futures: not a user's client.
OWN_CLIENTS = {"fire-and-forget"}


class EcsWorkers:
    """The cluster's workers service: its desired count, read from ECS and asked for in
    the cluster's parameter. The scheduler may not change the service itself: the
    orchestrator applies the count asked for within the cluster's adaptive bounds."""

    def __init__(self, ecs: Any, cluster: str, service: str, ssm: Any = None,
                 parameter: str = "") -> None:
        self.ecs, self.cluster, self.service = ecs, cluster, service
        self.ssm, self.parameter = ssm, parameter

    def desired(self) -> int:
        found = self.ecs.describe_services(cluster=self.cluster, services=[self.service])
        return int(found["services"][0]["desiredCount"])

    def set_desired(self, count: int) -> None:
        self.ssm.put_parameter(Name=self.parameter, Value=str(count), Type="String",
                               Overwrite=True)


class EcsAdaptive(AdaptiveCore):
    """AdaptiveCore over an ECS service. A worker is known by its address; a task ECS was
    asked for and that has not joined yet by a PENDING name."""

    def __init__(self, scheduler: Scheduler, workers: EcsWorkers, wait_count: int) -> None:
        super().__init__(minimum=0, maximum=0, wait_count=wait_count)
        self.default_wait_count = wait_count
        self.target_duration: float | None = None  # None: distributed's config
        self.scheduler = scheduler
        self.workers = workers
        self.desired = 0  # the service's desiredCount, read before each decision

    @property
    def observed(self) -> set[Any]:
        return set(self.scheduler.workers)

    @property
    def requested(self) -> set[Any]:
        observed = self.observed
        return observed | {f"{PENDING}{i}" for i in range(self.desired - len(observed))}

    @property
    def plan(self) -> set[Any]:
        return self.requested

    async def target(self) -> int:
        return int(self.scheduler.adaptive_target(target_duration=self.target_duration))

    async def workers_to_close(self, target: int) -> list[Any]:
        return list(self.scheduler.workers_to_close(target=target, attribute="address"))

    async def scale_up(self, n: int) -> None:  # type: ignore[override]  # called as n=
        await asyncio.to_thread(self.workers.set_desired, n)
        self.desired = n

    async def scale_down(self, workers: Iterable[Any]) -> None:  # type: ignore[override]
        chosen = list(workers)
        desired = len(self.plan) - len(chosen)
        joined = [w for w in chosen if not str(w).startswith(PENDING)]
        if joined:  # their data goes to the others before they close
            await self.scheduler.retire_workers(workers=joined, close_workers=True,
                                                stimulus_id=f"daskyard-adapt-{time.time()}")
        await asyncio.to_thread(self.workers.set_desired, desired)
        self.desired = desired


class Bounds:
    """What the API wrote to the adapt parameter: the bounds, and distributed's Adaptive
    options the user gave (None: the plugin's default, distributed's for the others)."""

    def __init__(self, value: dict[str, Any]) -> None:
        self.minimum = int(value.get("minimum", 0))
        self.maximum = int(value["maximum"])
        self.interval: float | None = _number(value.get("interval"))
        self.wait_count = int(value["wait_count"]) if value.get("wait_count") else None
        self.target_duration: float | None = _number(value.get("target_duration"))


def _number(value: Any) -> float | None:
    return float(value) if value is not None else None


def read_bounds(ssm: Any, parameter: str) -> Bounds | None:
    """The bounds and options, or None when adaptive scaling is off (no parameter)."""
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return Bounds(json.loads(value))


class DaskyardPlugin(SchedulerPlugin):
    name = "daskyard"

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.idle_closed = False
        self.adaptive: EcsAdaptive | None = None
        self.ssm: Any = None
        self.callbacks: list[PeriodicCallback] = []
        self.scheduler: Scheduler | None = None
        self.adapt_callback: PeriodicCallback | None = None
        self.default_interval = 10.0

    def set_interval(self, seconds: float | None) -> None:
        """The user's interval (adapt(interval=...)), else the stage's; from the next
        decision on (tornado reads callback_time when it schedules the next run)."""
        if self.adapt_callback is not None:
            self.adapt_callback.callback_time = (seconds or self.default_interval) * 1000

    async def start(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.callbacks.append(PeriodicCallback(self.hold_idle_clock, 200))
        if self.env.get("DASKYARD_ADAPT_PARAMETER"):
            import boto3
            from botocore.config import Config

            config = Config(retries={"mode": "standard"})
            self.ssm = boto3.client("ssm", config=config)
            workers = EcsWorkers(boto3.client("ecs", config=config),
                                 self.env["DASKYARD_ECS_CLUSTER"],
                                 self.env["DASKYARD_WORKER_SERVICE"], self.ssm,
                                 self.env["DASKYARD_DESIRED_PARAMETER"])
            self.adaptive = EcsAdaptive(scheduler, workers,
                                        int(self.env.get("DASKYARD_ADAPT_WAIT_COUNT", "3")))
            self.default_interval = float(self.env.get("DASKYARD_ADAPT_INTERVAL", "10"))
            self.adapt_callback = PeriodicCallback(self.adapt, self.default_interval * 1000)
            self.callbacks.append(self.adapt_callback)
        for callback in self.callbacks:
            callback.start()

    def hold_idle_clock(self) -> None:
        """A connected client keeps the cluster: its user may submit work any moment."""
        scheduler = self.scheduler
        if scheduler is not None and set(scheduler.clients) - OWN_CLIENTS:
            scheduler.idle_since = time.time()

    async def adapt(self) -> None:
        adaptive = self.adaptive
        assert adaptive is not None
        try:
            bounds = await asyncio.to_thread(read_bounds, self.ssm,
                                             self.env["DASKYARD_ADAPT_PARAMETER"])
            if bounds is None:  # off: forget earlier recommendations
                adaptive.close_counts.clear()
                return
            adaptive.minimum, adaptive.maximum = bounds.minimum, bounds.maximum
            adaptive.wait_count = bounds.wait_count or adaptive.default_wait_count
            adaptive.target_duration = bounds.target_duration
            self.set_interval(bounds.interval)
            adaptive.desired = await asyncio.to_thread(adaptive.workers.desired)
            await adaptive.adapt()
        except Exception:  # AWS unreachable for a moment: try again next interval
            log.exception("daskyard: adaptive scaling step failed")

    async def before_close(self) -> None:
        scheduler = self.scheduler
        if scheduler is not None and scheduler.idle_timeout and scheduler.idle_since and \
                time.time() >= scheduler.idle_since + scheduler.idle_timeout:
            log.info("daskyard: idle for %ss; the cluster will be destroyed",
                     scheduler.idle_timeout)
            self.idle_closed = True
        for callback in self.callbacks:
            callback.stop()


PLUGIN: DaskyardPlugin | None = None


async def dask_setup(scheduler: Scheduler) -> None:
    global PLUGIN  # the entrypoint reads it once the scheduler has closed
    PLUGIN = DaskyardPlugin(dict(os.environ))
    scheduler.add_plugin(PLUGIN)


def exit_code() -> int:
    """What the scheduler's process exits with: EXIT_IDLE after an idle timeout."""
    return EXIT_IDLE if PLUGIN is not None and PLUGIN.idle_closed else 0


# The cookie a browser keeps the dashboard's token in, once it came with `?token=`.
TOKEN_COOKIE = "daskyard-dashboard"  # nosec B105  # the cookie's name, not a secret
# What the HTTP server answers without the token: ECS's and a balancer's health check.
OPEN_PATHS = ("/health",)


def _in_memory(name: str, text: str) -> str:
    """A path to `text` that is no file on any disk (a memfd, this process's only): the
    dashboard's TLS needs paths, and the cluster's key is never written to a file."""
    fd = os.memfd_create(name)
    os.write(fd, text.encode())
    return f"/proc/self/fd/{fd}"


def secure_dashboard(environ: MutableMapping[str, str] | None = None) -> bool:
    """The scheduler's HTTP server (the dashboard, /metrics, its JSON routes) over HTTPS
    with the cluster's node certificate, and behind the cluster's token (the one its
    Jupyter has): `?token=` once (then an HttpOnly, Secure cookie) or `Authorization:
    token <t>`; anything else is 403. False (and nothing changed) without a token."""
    if environ is None:
        environ = os.environ
    token = environ.pop("DASKYARD_DASHBOARD_TOKEN", "")
    prefix = "DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__"
    cert, key = environ.get(f"{prefix}CERT", ""), environ.get(f"{prefix}KEY", "")
    if not (token and cert and key):
        return False
    import dask

    # dask read its environment when it was imported: set in its config directly.
    dask.config.set({"distributed.scheduler.dashboard.tls.cert": _in_memory("cert", cert),
                     "distributed.scheduler.dashboard.tls.key": _in_memory("key", key)})
    gate_http(token)
    return True


def gate_http(token: str) -> None:
    """Every request to distributed's HTTP server must carry `token` (see
    secure_dashboard). The gate is at the application's routing, so it holds for every
    route, bokeh's pages and websockets included."""
    import hmac

    from distributed.http.routing import RoutingApplication
    from tornado import web

    class TokenGate(web.RequestHandler):
        def prepare(self) -> None:
            given = self.get_query_argument("token", "")
            if given and hmac.compare_digest(given.encode(), token.encode()):
                self.set_cookie(TOKEN_COOKIE, token, secure=True, httponly=True,
                                samesite="Strict")
                query = "&".join(f"{k}={v[0].decode()}" for k, v in
                                 self.request.query_arguments.items() if k != "token")
                self.redirect(self.request.path + (f"?{query}" if query else ""))
                return
            raise web.HTTPError(403, "the dashboard wants the cluster's token")

    original = RoutingApplication.find_handler

    def find_handler(app: Any, request: Any, **kwargs: Any) -> Any:
        if request.path in OPEN_PATHS:
            return original(app, request, **kwargs)
        header = request.headers.get("Authorization", "")
        cookie = request.cookies.get(TOKEN_COOKIE)
        given = header.removeprefix("token ") if header.startswith("token ") else (
            cookie.value if cookie is not None else "")
        if given and hmac.compare_digest(given.encode(), token.encode()):
            return original(app, request, **kwargs)
        return app.get_handler_delegate(request, TokenGate)

    RoutingApplication.find_handler = find_handler  # type: ignore[method-assign,assignment]


def main(argv: list[str]) -> None:
    """`dask scheduler ARGS` in this process, then exit with `exit_code()`: a process
    that exec'd `dask scheduler` could not tell an idle timeout from any other end."""
    from distributed.cli.dask_scheduler import main as dask_scheduler

    secure_dashboard()
    dask_scheduler.main(args=argv, prog_name="dask scheduler", standalone_mode=False)
    # This file runs as __main__; the preload imported it again as daskyard_scheduler.
    loaded = sys.modules.get("daskyard_scheduler")
    raise SystemExit(loaded.exit_code() if loaded is not None else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
