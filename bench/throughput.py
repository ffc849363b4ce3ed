"""4. Control-plane throughput: 20 clusters created and destroyed concurrently against
the emulator (no dask processes), against one cluster alone in the same run."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import lifecycle
from chalicelib.core.identity import Caller
from chalicelib.core.models import ClusterSpec
from chalicelib.core.runtime import runtime
from daskyard.local.stack import LocalMode, wait_execution

CONCURRENT = 20


def lifecycle_of(local: LocalMode, name: str) -> float:
    rt, clients = runtime(), local.clients
    assert clients is not None

    def wait(arn: str) -> str:
        return str(wait_execution(clients, arn, timeout=600)["status"])

    # One owner per lifecycle: the stage's per-owner quota is not what is measured.
    user = Caller(f"arn:aws:iam::123456789012:user/{name}")
    started = time.perf_counter()
    made = lifecycle.create_cluster(rt, ClusterSpec.model_validate(
        {"name": name, "workers": 1, "allowed_cidrs": ["10.1.0.0/16"]}), caller=user)
    if wait(made.execution_arn) != "SUCCEEDED":
        raise RuntimeError(f"{name}: create failed: {rt.registry.require(name).error}")
    if wait(lifecycle.destroy_cluster(rt, name, caller=user).execution_arn) != "SUCCEEDED":
        raise RuntimeError(f"{name}: destroy failed")
    return time.perf_counter() - started


def run(local: LocalMode) -> dict[str, Any]:
    local.reset(processes=False)
    alone = lifecycle_of(local, "solo")
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENT) as pool:
        each = list(pool.map(lambda i: lifecycle_of(local, f"tp-{i:02d}"), range(CONCURRENT)))
    wall = time.perf_counter() - started
    return {"clusters": CONCURRENT, "alone_s": round(alone, 2), "wall_s": round(wall, 2),
            "per_cluster_s": round(wall / CONCURRENT, 2),
            "slowest_s": round(max(each), 2),
            "speedup_vs_serial": round(alone * CONCURRENT / wall, 2)}
