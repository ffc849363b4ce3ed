"""The peer, side by side: dask-cloudprovider's `FargateCluster`, unmodified, against
local mode (its tasks started by RunTask and run as ECS runs them, daskyard.local.
standalone), computes one task and closes; what it left is listed. The figures go to the
bench (bench/peer.py, which also runs Daskyard and the fault); this test asserts that
the peer ran and was measured, and prints the figures."""

from __future__ import annotations

import json

import pytest

from bench import peer
from daskyard.local.stack import LocalMode


@pytest.mark.e2e
def test_fargate_cluster_runs_one_task_against_local_mode_and_is_measured(
        live: LocalMode) -> None:
    with peer.peer_ready(live):
        row = peer.run_peer(live, "peer-e2e")
    print(json.dumps({k: v for k, v in row.items() if k != "calls_by_action"}, indent=1))
    assert row["error"] is None, row["error"]
    assert row["result"] == 5050  # sum(range(101)), computed by a worker task process
    assert row["ready_s"] > 0 and row["calls_by_action"]["ecs:RunTask"] == 2, row
    assert isinstance(row["left_after_close"], list)  # measured (the bench reports it)
