"""`daskyard demo`: the main job, end to end, on this machine.

Local mode starts; a 2-worker cluster is created through the HTTP API; a dataframe is
written to the shared drive and grouped by the workers; the cluster is destroyed and
nothing is left in the emulator or running."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daskyard.cluster import DaskyardCluster
from daskyard.credentials import data_dir
from daskyard.local.stack import LocalMode

Say = Callable[[str], None]


def compute(cluster: DaskyardCluster, workers: int, drive: Path, say: Say) -> Any:
    """Write generated data to the drive, have the workers read it back and group it."""
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd
    from distributed import Client

    rng = np.random.default_rng(42)
    n = 200_000
    frame = pd.DataFrame({"station": rng.choice(list("ABCDEFGH"), n),
                          "reading": rng.normal(20.0, 5.0, n).round(3)})
    path = drive / "readings"
    dd.from_pandas(frame, npartitions=8).to_parquet(path, write_index=False)
    say(f"wrote {n:,} rows as 8 parquet files to the shared drive ({path})")
    with Client(cluster, timeout=30) as client:
        client.wait_for_workers(workers, timeout=60)
        say(f"connected to {cluster.scheduler_address}: {workers} workers")
        result = dd.read_parquet(path).groupby("station").reading.agg(
            ["count", "mean"]).compute().sort_index()
    expected = frame.groupby("station").reading.agg(["count", "mean"]).sort_index()
    pd.testing.assert_frame_equal(result, expected, check_index_type=False)
    return result


def run(say: Say, name: str = "demo", workers: int = 2) -> Any:
    started = time.monotonic()
    # A data directory of its own: its cluster's drive folder, its keys and its run
    # never meet those of a `daskyard serve` running beside it (a cluster named "demo"
    # there has the folder efs/demo of the serve's data directory).
    with LocalMode(processes=True, root=data_dir() / "demo") as local:
        url = local.serve_api(served=False)  # a running serve stays the CLI's API
        say(f"emulator at {local.emulator.url}, API at {url}")
        t0 = time.monotonic()
        cluster = DaskyardCluster(name, workers, api=url, timeout=300,
                                  credentials=local.credentials,
                                  allowed_cidrs=["127.0.0.0/8"], on_progress=lambda r: say(
                                      f"  {time.monotonic() - t0:6.2f}s  {r['status']:<9} "
                                      f"{r['step']}"))
        with cluster:
            say(f"READY in {time.monotonic() - t0:.2f}s; scheduler {cluster.scheduler_address}")
            say(f"dashboard: {cluster.dashboard_link}")
            result = compute(cluster, workers, Path(cluster.drive), say)
            say(f"result (count and mean reading per station):\n{result.to_string()}")
        say(f"destroyed: {cluster.api.get(name)['status']}")
        left = local.leftovers(name, settle=30)
        if left:
            raise RuntimeError(f"left behind: {left}")
        say("nothing left in the emulator; no task running")
    say(f"demo finished in {time.monotonic() - started:.1f}s")
    return result
