"""6. Modeled time to READY on AWS: local mode acting out AWS's delays (the `aws` latency
profile, daskyard/local/latency.py) at a fraction of real time, converted back.

Each create runs twice: with no delays (what Daskyard itself costs here: its Lambdas,
the emulator, the state machine) and with the profile at SCALE, its waits and retry
intervals scaled alike. What the profile added, divided by SCALE, is what AWS would
add; plus what Daskyard costs, that is the modeled time. The same per state gives the
critical path: which state waited, on what. Control-plane-only tasks (no dask
processes): on AWS a task's start is the profile's figure, image pull included. The
fresh scenarios are a first create (cold Lambdas); the spare-drive and named-drive ones
follow a create made minutes before (warm Lambdas), as they do in use."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib import lifecycle
from chalicelib.core.identity import SYSTEM
from chalicelib.core.models import ClusterSpec
from chalicelib.core.runtime import from_env, runtime
from chalicelib.steps import spare_drives
from daskyard.local.asl import raw
from daskyard.local.latency import AWS, DELAYS, NONE
from daskyard.local.stack import LocalMode, wait_execution

SCALE = 0.5  # what the run adds is divided by this: its noise too (x2 here)
MAX_WORKERS = 32
NO_DELAY_TIME_SCALE = 0.1  # the tests' scale: nothing waits without delays anyway
# What each waiting state waits on, for the critical path's words.
WAITS_ON = {"WaitForSharedDrive": "EFS mount targets available",
            "WaitForScheduler": "the scheduler's Fargate task RUNNING (image pull)",
            "EstablishSharedDrive": "the file system available",
            "KeepSpareDrives": "a new spare file system available",
            "PrepareImages": "the images in ECR (or their build)"}


def timeline(clients: Any, arn: str) -> dict[str, tuple[float, float]]:
    """State name -> (entered, exited), seconds from the execution's start."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = clients.sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    start: datetime = events[0]["timestamp"]
    spans: dict[str, list[float]] = {}
    for event in events:
        at = (event["timestamp"] - start).total_seconds()
        if event["type"].endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            spans.setdefault(name, [at, at])
        elif event["type"].endswith("StateExited"):
            spans[event["stateExitedEventDetails"]["name"]][1] = at
    return {name: (a, b) for name, (a, b) in spans.items()}


def critical_path(spans: dict[str, tuple[float, float]]) -> list[str]:
    """The top-level states in order; for a Parallel, the states of its branch that
    ended last (what the next state waited for)."""
    states = json.loads(raw("create_cluster"))["States"]
    path = []
    for name in sorted((n for n in states if n in spans), key=lambda n: spans[n][0]):
        branches = states[name].get("Branches")
        if not branches:
            path.append(name)
            continue
        last = max(branches, key=lambda b: max(spans[s][1] for s in b["States"] if s in spans))
        path += [s for s in last["States"] if s in spans]
    return path


def create(local: LocalMode, spec: ClusterSpec) -> tuple[float, dict[str, tuple[float, float]]]:
    rt = runtime()
    assert local.clients is not None
    started = time.perf_counter()
    made = lifecycle.create_cluster(rt, spec, caller=SYSTEM)
    out = wait_execution(local.clients, made.execution_arn, timeout=600)
    seconds = time.perf_counter() - started
    assert out["status"] == "SUCCEEDED", out
    return seconds, timeline(local.clients, made.execution_arn)


def made_before(before: dict[str, Any]) -> Callable[[LocalMode], None]:
    """A cluster made and destroyed first (as the one that made the named drive)."""
    def prepare(local: LocalMode) -> None:
        assert local.clients is not None
        create(local, ClusterSpec.model_validate(before))
        gone = lifecycle.destroy_cluster(runtime(), before["name"], caller=SYSTEM)
        wait_execution(local.clients, gone.execution_arn, timeout=600)
    return prepare


def spare_made_before(before: dict[str, Any]) -> Callable[[LocalMode], None]:
    """The stage keeps one spare drive: a cluster created before (and destroyed) made
    it in its KeepSpareDrives, and its mount targets are available by now."""
    def prepare(local: LocalMode) -> None:
        os.environ["DASKYARD_SPARE_DRIVES"] = "1"
        from_env.cache_clear()
        made_before(before)(local)
        assert local.clients is not None
        efs = local.clients.efs
        (spare,) = [fs["FileSystemId"] for fs in spare_drives.spares(runtime())]
        while any(mt["LifeCycleState"] != "available" for mt in
                  efs.describe_mount_targets(FileSystemId=spare)["MountTargets"]):
            time.sleep(0.5)
    return prepare


def no_spares() -> None:
    os.environ.pop("DASKYARD_SPARE_DRIVES", None)
    from_env.cache_clear()
    spare_drives.keep(runtime())  # removes what is left


def scenario(local: LocalMode, label: str, spec: dict[str, Any],
             prepare: Callable[[LocalMode], None] | None = None) -> dict[str, Any]:
    """`spec` created with no delays and with the profile; `prepare` run in each world
    beforehand."""
    runs = {}
    for latency, time_scale in ((NONE, NO_DELAY_TIME_SCALE), (AWS.scaled(SCALE), SCALE)):
        local.act_out(latency, time_scale)
        os.environ["DASKYARD_MAX_WORKERS"] = str(MAX_WORKERS)  # local mode's stage allows 16
        from_env.cache_clear()
        if prepare:
            prepare(local)
        runs[latency.name] = create(local, ClusterSpec.model_validate(spec))
        no_spares()
    (base, base_spans), (slow, slow_spans) = runs["none"], runs["aws"]

    def modeled(no_delay: float, with_delay: float) -> float:
        return round(no_delay + max(0.0, with_delay - no_delay) / SCALE, 1)

    path = critical_path(slow_spans)
    steps = []
    for name in path:
        d0 = base_spans.get(name, (0.0, 0.0))
        d1 = slow_spans[name]
        steps.append({"state": name, "modeled_s": modeled(d0[1] - d0[0], d1[1] - d1[0]),
                      "waits_on": WAITS_ON.get(name, "")})
    return {"scenario": label, "workers": spec.get("workers", 2),
            "daskyard_s": round(base, 2), "modeled_ready_s": modeled(base, slow),
            "critical_path": steps}


def run(local: LocalMode) -> dict[str, Any]:
    local.reset(processes=False)
    cidr = {"allowed_cidrs": ["10.1.0.0/16"]}
    rows = [
        scenario(local, "fresh", {"name": "fresh-1", "workers": 1, **cidr}),
        scenario(local, "fresh", {"name": "fresh-8", "workers": 8, **cidr}),
        scenario(local, "fresh", {"name": "fresh-32", "workers": 32, **cidr}),
        scenario(local, "fresh, spare drive ready", {"name": "spare-8", "workers": 8, **cidr},
                 spare_made_before({"name": "earlier", "workers": 0, **cidr})),
        scenario(local, "named drive exists", {"name": "again", "workers": 8, "drive": "data",
                                               **cidr},
                 made_before({"name": "first", "workers": 0, "drive": "data", **cidr})),
    ]
    local.act_out(NONE, NO_DELAY_TIME_SCALE)
    return {"scale": SCALE, "profile": {f: AWS.of(f) for f in DELAYS}, "rows": rows}


if __name__ == "__main__":
    with LocalMode(processes=False, time_scale=NO_DELAY_TIME_SCALE) as mode:
        print(json.dumps(run(mode), indent=2))
