"""7. dask-cloudprovider's `FargateCluster` beside Daskyard, on one emulator in one run.

The peer runs unmodified (dask-cloudprovider 2025.9.0 from PyPI, its aiobotocore calls
pointed at the emulator by AWS_ENDPOINT_URL, as botocore allows); its tasks are started
by RunTask and run by local mode as ECS runs them (daskyard.local.standalone): the
container's command, its own loopback address on its ENI, its output in CloudWatch Logs.
Daskyard runs as a user runs it, `DaskyardCluster` over the local HTTP API.

For each: seconds from the constructor until one worker is connected, one task computed,
the AWS calls the orchestrating side made (the peer's aiobotocore calls, from the user's
process; Daskyard's from its Lambdas and its HTTP API, by handler: the API's serve the
client's status polls), and what is left in the emulator, by listing every service
before and after: after `close()` (and, for the peer, after the object is collected: it
deletes what it made in finalizers), and after a fault injected mid-create. The fault is
the same for both: ECS refuses the worker's task definition (RegisterTaskDefinition
answers ClientException for a family ending `-worker`), after the cluster, roles or
security group, and the scheduler's definition exist.

What the peer needs from its image: dask-cloudprovider 2025.9.0 runs `dask-scheduler`
and `dask-worker`, which distributed no longer installs since 2026.6.0 (dask/distributed
#9240; reported as dask/distributed#9335). The peer is given an image that has them, as
it would need on AWS (PEER_IMAGE: the two names as shims for `dask scheduler`/`worker`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daskyard.local import seam
from daskyard.local.latency import AWS, NONE
from daskyard.local.stack import LocalMode
from daskyard.local.standalone import Image, environment_bin

PEER_IMAGE = "local/dask-legacy-cli"
# Fargate's smallest task size: the peer's defaults (4 vCPU, 16 GiB per worker) would
# give a local worker a 16 GB memory limit.
PEER_SIZE = {"worker_cpu": 256, "worker_mem": 512, "scheduler_cpu": 256,
             "scheduler_mem": 512}
FAULT = "-worker"  # the task definition family ECS refuses, for the fault runs
FAULT_MESSAGE = "injected fault: task definition refused"
REGISTER_TASK_DEFINITION = "moto.ecs.models.EC2ContainerServiceBackend.register_task_definition"
PROFILE_SCALE = 0.05  # the AWS profile's delays at 1/20: a Fargate task PENDING for 3 s


def legacy_cli_image(folder: Path) -> Image:
    """An image with `dask-scheduler` and `dask-worker` on its PATH, as the peer needs."""
    folder.mkdir(parents=True, exist_ok=True)
    dask = environment_bin() / "dask"
    for old, new in (("dask-scheduler", "scheduler"), ("dask-worker", "worker")):
        shim = folder / old
        shim.write_text(f'#!/bin/sh\nexec "{dask}" {new} "$@"\n')
        shim.chmod(0o755)
    return Image(path=(folder,))


@contextlib.contextmanager
def peer_calls() -> Iterator[Counter[str]]:
    """Count every AWS call made through aiobotocore (the peer's client) as service:Op."""
    from aiobotocore.client import AioBaseClient

    calls: Counter[str] = Counter()
    base: Any = AioBaseClient
    original = base._make_api_call

    async def counted(self: Any, operation: str, params: Any) -> Any:
        calls[f"{self.meta.service_model.signing_name}:{operation}"] += 1
        return await original(self, operation, params)

    base._make_api_call = counted
    try:
        yield calls
    finally:
        base._make_api_call = original


@contextlib.contextmanager
def refused_task_definition(suffix: str = FAULT) -> Iterator[None]:
    """ECS answers RegisterTaskDefinition for a family ending `suffix` with ClientException."""
    refused = seam.get("moto.ecs.exceptions.EcsClientException")

    def refusing(original: Any) -> Any:
        def refuse(self: Any, family: str, *args: Any, **kwargs: Any) -> Any:
            if family.endswith(suffix):
                raise refused(FAULT_MESSAGE)
            return original(self, family, *args, **kwargs)
        return refuse

    mark = object()
    seam.wrap_once(REGISTER_TASK_DEFINITION, refusing, mark)
    try:
        yield
    finally:
        seam.unwrap(REGISTER_TASK_DEFINITION, mark)


def inventory(local: LocalMode) -> set[str]:
    """Everything in the emulator a Dask cluster could leave, and the local task processes."""
    c = local.clients
    assert c is not None and local.agent is not None and local.standalone is not None
    found: set[str] = set()
    ecs = c.ecs
    for arn in ecs.list_clusters()["clusterArns"]:
        for cluster in ecs.describe_clusters(clusters=[arn])["clusters"]:
            if cluster["status"] == "ACTIVE":
                found.add(f"ECS cluster {cluster['clusterName']}")
        services = ecs.list_services(cluster=arn)["serviceArns"]
        # moto lists deleted (INACTIVE) services too; ListServices on AWS does not.
        found |= {f"ECS service {s['serviceName']}" for s in (ecs.describe_services(
            cluster=arn, services=services)["services"] if services else [])
                  if s["status"] != "INACTIVE"}
        found |= {f"ECS task {t.rsplit('/', 1)[-1][:8]}" for t in
                  ecs.list_tasks(cluster=arn, desiredStatus="RUNNING")["taskArns"]}
    found |= {f"task definition {a.rsplit('/', 1)[-1]}" for a in
              ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]}
    found |= {f"IAM role {r['RoleName']}" for r in
              c.client("iam").list_roles(MaxItems=1000)["Roles"]}
    found |= {f"security group {g['GroupName']}" for g in
              c.ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"}
    found |= {f"network interface {n['NetworkInterfaceId']}" for n in
              c.ec2.describe_network_interfaces()["NetworkInterfaces"]}
    found |= {f"log group {g['logGroupName']}" for g in
              c.logs.describe_log_groups()["logGroups"]}
    found |= {f"parameter {p['Name']}" for p in
              c.ssm.describe_parameters(MaxResults=50)["Parameters"]}
    found |= {f"secret {s['Name']}" for s in c.secrets.list_secrets()["SecretList"]}
    found |= {f"file system {f['FileSystemId']}" for f in
              c.efs.describe_file_systems()["FileSystems"]}
    found |= {f"task process {t.arn.rsplit('/', 1)[-1][:8]} ({t.group})" for t in
              [*local.agent.running(), *local.standalone.running()]}
    return found


def _left(local: LocalMode, before: set[str], settle: float = 5) -> list[str]:
    """What is new since `before`, once the tasks had `settle` s to stop (ECS stops a
    task a moment after it is asked)."""
    deadline = time.monotonic() + settle
    while True:
        left = sorted(inventory(local) - before)
        if time.monotonic() >= deadline or not any(x.startswith(("task process", "ECS task"))
                                                   for x in left):
            return left
        time.sleep(0.2)


def run_peer(local: LocalMode, name: str, fault: bool = False) -> dict[str, Any]:
    """FargateCluster: create with one worker, compute one task, close; what it left."""
    from dask_cloudprovider.aws import FargateCluster
    from distributed import Client

    before = inventory(local)
    out: dict[str, Any] = {"side": "dask-cloudprovider FargateCluster", "fault": fault,
                           "ready_s": None, "result": None, "error": None}
    cluster: Any = None
    with peer_calls() as calls, (refused_task_definition() if fault
                                 else contextlib.nullcontext()):
        started = time.perf_counter()
        try:
            cluster = FargateCluster(name=name, n_workers=1, image=PEER_IMAGE,
                                     region_name=local.clients.region if local.clients
                                     else "us-east-1", **PEER_SIZE)
            with Client(cluster, timeout=60) as client:
                client.wait_for_workers(1, timeout=120)
                out["ready_s"] = round(time.perf_counter() - started, 2)
                out["result"] = client.submit(sum, range(101)).result(timeout=60)
        except Exception as exc:  # the fault run: the constructor raises
            out["error"] = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            if cluster is not None:
                cluster.close()
        out["total_s"] = round(time.perf_counter() - started, 2)
    out["calls"] = sum(calls.values())
    out["calls_by_action"] = dict(sorted(calls.items()))
    out["left_after_close"] = _left(local, before)
    # The peer deletes what it made in finalizers run when the object is collected.
    del cluster
    with _stderr_to_devnull():  # their "IOLoop is closed" tracebacks, counted below
        gc.collect()
    out["left_after_collect"] = _left(local, before, settle=0)
    return out


def run_daskyard(local: LocalMode, name: str, fault: bool = False) -> dict[str, Any]:
    """DaskyardCluster over the local API: the same steps and the same measures."""
    from distributed import Client

    from daskyard.cluster import DaskyardCluster
    from deploy.calls import recording

    before = inventory(local)
    out: dict[str, Any] = {"side": "Daskyard DaskyardCluster", "fault": fault,
                           "ready_s": None, "result": None, "error": None}
    with recording() as calls, (refused_task_definition() if fault
                                else contextlib.nullcontext()):
        started = time.perf_counter()
        try:
            with DaskyardCluster(name, workers=1, api=local.api_url, timeout=300,
                                 credentials=local.credentials, quiet=True,
                                 allowed_cidrs=["127.0.0.0/8"]) as cluster, \
                    Client(cluster, timeout=60) as client:
                client.wait_for_workers(1, timeout=120)
                out["ready_s"] = round(time.perf_counter() - started, 2)
                out["result"] = client.submit(sum, range(101)).result(timeout=60)
        except Exception as exc:  # the fault run: FAILED, rolled back
            out["error"] = f"{type(exc).__name__}: {exc}"[:300]
        out["total_s"] = round(time.perf_counter() - started, 2)
    out["calls"] = sum(calls.calls.values())
    out["calls_by_action"] = dict(sorted(calls.calls.items()))
    # Which handler made them: the HTTP API's serve the client's status polls.
    out["calls_by_handler"] = {handler or "(direct)": sum(n.values())
                               for handler, n in sorted(calls.by_handler.items())}
    out["left_after_close"] = _left(local, before)
    out["left_after_collect"] = out["left_after_close"]  # nothing waits on collection
    return out


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
        yield


@contextlib.contextmanager
def peer_ready(local: LocalMode) -> Iterator[None]:
    """The peer's image known to local mode, and the peer's clients pointed at the
    emulator (for local mode with real processes: `live` in the tests)."""
    folder = Path(tempfile.mkdtemp(prefix="peer-image-"))
    local.images[PEER_IMAGE] = legacy_cli_image(folder)
    saved = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = local.emulator.url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = saved
        local.images.pop(PEER_IMAGE, None)
        shutil.rmtree(folder, ignore_errors=True)


def run(local: LocalMode, scale: float = PROFILE_SCALE) -> dict[str, Any]:
    """Both sides, clean and with the fault, in one run on one emulator; then both again
    under the AWS latency profile at `scale` (a task PENDING for its image pull, EFS
    mount targets, Lambda cold starts), where what grows with the wait shows."""
    local.reset(processes=True)
    if not local.api_url:
        local.serve_api()
    with peer_ready(local):
        rows = [run_peer(local, "peer-clean"), run_daskyard(local, "ours-clean"),
                run_peer(local, "peer-fault", fault=True),
                run_daskyard(local, "ours-fault", fault=True)]
        before = (local.latency, local.time_scale)
        local.act_out(AWS.scaled(scale), scale)
        try:
            profiled = [run_peer(local, "peer-aws"), run_daskyard(local, "ours-aws")]
        finally:
            local.act_out(*before)
    local.reset(processes=False)
    return {"rows": rows, "profiled": profiled, "profile_scale": scale,
            "fault": f"RegisterTaskDefinition refused for family *{FAULT}",
            "peer_image": PEER_IMAGE}


MODEL_SCALE = 0.5  # as section 6 runs the profile: what it adds is divided by this


def modeled(local: LocalMode, scale: float = MODEL_SCALE) -> dict[str, Any]:
    """Each side's seconds to a connected worker in modeled AWS seconds, as section 6
    models READY (bench/modeled.py): run with no delays and with the AWS profile at
    `scale`, each in a world of its own with its Lambdas cold; the no-delay seconds
    plus what the profile added, divided by `scale`. Daskyard without a spare drive (it
    waits for its drive's mount targets) and with one (DASKYARD_SPARE_DRIVES: a create
    made before left one, its mount targets available; its Lambdas warm from it)."""
    from bench.modeled import NO_DELAY_TIME_SCALE, no_spares, spare_made_before

    sides = [("dask-cloudprovider FargateCluster", run_peer, None),
             ("Daskyard DaskyardCluster, no spare drive", run_daskyard, None),
             ("Daskyard DaskyardCluster, a spare drive ready", run_daskyard,
              spare_made_before({"name": "earlier", "workers": 0,
                                 "allowed_cidrs": ["127.0.0.0/8"]}))]
    local.reset(processes=True)
    if not local.api_url:
        local.serve_api()
    before = (local.latency, local.time_scale)
    seconds: dict[str, list[float]] = {}
    try:
        with peer_ready(local):
            for latency, time_scale in ((NONE, NO_DELAY_TIME_SCALE), (AWS.scaled(scale), scale)):
                for i, (side, run_side, prepare) in enumerate(sides):
                    local.act_out(latency, time_scale)
                    if prepare is not None:
                        prepare(local)
                    try:
                        out = run_side(local, f"model-{latency.name}-{i}")
                    finally:
                        no_spares()
                    if out["ready_s"] is None:
                        raise RuntimeError(f"{side} ({latency.name}): {out['error']}")
                    seconds.setdefault(side, []).append(out["ready_s"])
    finally:
        local.act_out(*before)
        local.reset(processes=False)
    rows = [{"side": side, "no_delay_s": base, "profiled_s": slow,
             "modeled_aws_s": round(base + max(0.0, slow - base) / scale, 1)}
            for side, (base, slow) in seconds.items()]
    return {"scale": scale, "rows": rows}
