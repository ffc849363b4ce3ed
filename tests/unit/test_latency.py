"""The latency profile (daskyard.local.latency) and the state machines' patience: every
wait on AWS in the create machine outlasts what AWS is known to take, several times."""

from __future__ import annotations

import json
from typing import Any

import pytest

from daskyard.local.asl import raw
from daskyard.local.latency import AWS, NONE, UnknownProfile, profile

# How many times AWS's typical figure each wait must allow: the figures are typical
# ones, and terraform-provider-aws#15278 saw mount targets take over 10 minutes.
MARGIN = 5


def states() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, state in json.loads(raw("create_cluster"))["States"].items():
        out[name] = state
        for branch in state.get("Branches", []):
            out.update(branch["States"])
    return out


def expected_retry_wait(retrier: dict[str, Any]) -> float:
    """Seconds a retrier waits in all, on average: FULL jitter waits a uniform share of
    each interval (half, on average)."""
    interval, total = float(retrier["IntervalSeconds"]), 0.0
    for _ in range(retrier["MaxAttempts"]):
        step = min(interval, retrier.get("MaxDelaySeconds", interval))
        total += step / 2 if retrier.get("JitterStrategy") == "FULL" else step
        interval *= retrier.get("BackoffRate", 2.0)
    return total


def test_profiles_by_name_and_scale() -> None:
    assert profile("aws", 0.05).of("efs_mount_target") == pytest.approx(4.5)
    assert profile("none").active is False and profile("aws").active is True
    assert NONE.of("fargate_task_start") == 0
    with pytest.raises(UnknownProfile, match="one of none, aws"):
        profile("gcp")
    with pytest.raises(UnknownProfile, match="between 0"):
        profile("aws", 2)


def test_the_mount_target_wait_outlasts_aws_several_times() -> None:
    retrier = next(r for r in states()["WaitForSharedDrive"]["Retry"]
                   if r["ErrorEquals"] == ["NotReady"])
    assert expected_retry_wait(retrier) >= MARGIN * AWS.efs_mount_target


def test_callback_waits_outlast_task_starts_and_builds_several_times() -> None:
    found = states()
    assert found["WaitForScheduler"]["TimeoutSeconds"] >= MARGIN * AWS.fargate_task_start
    assert found["PrepareImages"]["TimeoutSeconds"] >= MARGIN * AWS.image_build
