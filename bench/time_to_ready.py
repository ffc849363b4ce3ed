"""1. Time to ready in local mode (POST -> READY -> all workers connected) for 1, 4 and 8
workers, against distributed.LocalCluster with as many worker processes, same run."""

from __future__ import annotations

import statistics
import time
from typing import Any

from daskyard.client import DaskyardApi
from daskyard.local.stack import LocalMode

WORKERS = (1, 4, 8)


def daskyard_ready(api: DaskyardApi, name: str, workers: int) -> float:
    from distributed import Client
    from distributed.security import Security

    started = time.perf_counter()
    api.create({"name": name, "workers": workers, "allowed_cidrs": ["127.0.0.0/8"]})
    record = api.wait(name, {"READY", "FAILED"}, timeout=300)
    if record["status"] != "READY":
        raise RuntimeError(record["error"])
    creds = api.credentials(name)  # as DaskyardCluster connects: TLS, client certificate
    security = Security(require_encryption=True, tls_ca_file=creds["ca"],
                        tls_client_cert=creds["cert"], tls_client_key=creds["key"])
    with Client(record["scheduler_address"], security=security, timeout=60) as client:
        client.wait_for_workers(workers, timeout=120)
        took = time.perf_counter() - started
    api.delete(name)
    api.wait(name, {"DELETED"}, timeout=300)
    return took


def local_cluster_ready(workers: int) -> float:
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=2, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.wait_for_workers(workers, timeout=120)
        return time.perf_counter() - started


def run(local: LocalMode, repeats: int = 3) -> dict[str, Any]:
    local.reset(processes=True)
    api = DaskyardApi(local.api_url or local.serve_api(), local=local.credentials)
    rows = []
    for workers in WORKERS:
        ours = [daskyard_ready(api, f"ttr-{workers}-{i}", workers) for i in range(repeats)]
        theirs = [local_cluster_ready(workers) for _ in range(repeats)]
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        rows.append({"workers": workers, "daskyard_s": round(ours_s, 2),
                     "local_cluster_s": round(theirs_s, 2),
                     "ratio": round(ours_s / theirs_s, 2),
                     "daskyard_all": [round(x, 2) for x in ours],
                     "local_cluster_all": [round(x, 2) for x in theirs]})
    local.reset(processes=False)
    return {"repeats": repeats, "rows": rows}
