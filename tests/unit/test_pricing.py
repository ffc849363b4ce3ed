"""The cost estimate (chalicelib.core.pricing) from the stage's dated price table."""

from __future__ import annotations

import pytest

from chalicelib.core.models import ClusterSpec
from chalicelib.core.pricing import hourly
from chalicelib.core.settings import Prices, Settings

# A table with round figures, so each expected estimate can be worked out by hand.
ROUND = Prices(fargate_vcpu_hour=0.04, fargate_gb_hour=0.005, fargate_spot_discount=0.5,
               ec2_hour={"t3.large": 0.1})


def spec(**kw: object) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "demo", **kw})


def test_fargate_counts_the_scheduler_each_worker_and_the_notebook() -> None:
    # 1 vCPU + 4 GB each: 0.04 + 0.02 = 0.06 per task-hour.
    assert hourly(spec(workers=2), ROUND) == pytest.approx(0.18)  # scheduler + 2 workers
    assert hourly(spec(workers=2, notebook=True), ROUND) == pytest.approx(0.24)
    assert hourly(spec(workers=0), ROUND) == pytest.approx(0.06)


def test_each_fargate_task_pays_for_its_public_ip_when_it_has_one() -> None:
    with_ips = ROUND.model_copy(update={"public_ipv4_hour": 0.01})
    assert hourly(spec(workers=2), with_ips, public_ips=True) == pytest.approx(0.21)
    assert hourly(spec(workers=2), with_ips, public_ips=False) == pytest.approx(0.18)


def test_spot_discounts_the_workers_only() -> None:
    # The scheduler stays on demand (0.06); two workers at half price (0.06).
    assert hourly(spec(workers=2, launch_type="FARGATE_SPOT"), ROUND) == pytest.approx(0.12)


def test_ec2_pays_for_the_instances_the_tasks_fill() -> None:
    # t3.large: 2048 CPU units, 7936 MiB; scheduler + 3 workers of 1024/4096 = 4 vCPU and
    # 4 tasks of (capped) 4096 MiB: memory needs ceil(16384 / 7936) = 3 instances.
    assert hourly(spec(workers=3, launch_type="EC2", instance_type="t3.large"), ROUND) \
        == pytest.approx(0.3)


def test_the_stage_can_set_its_own_table_as_json() -> None:
    settings = Settings.from_env({"DASKYARD_PRICES": ROUND.model_dump_json()})
    assert settings.prices == ROUND
    assert Settings.from_env({}).prices.as_of  # the default table is dated
