"""A create that would pass the account's applied Fargate vCPU quota is refused before
anything is made, naming the quota (issue 24): AWS would otherwise refuse its tasks
halfway through the create. A quota known only by its documented default refuses nothing
(AWS raises an account's Fargate quota with its use)."""

from __future__ import annotations

import pytest

from chalicelib import lifecycle
from chalicelib.core.errors import QuotaExceeded
from chalicelib.core.quotas import FARGATE_ON_DEMAND, FARGATE_SPOT
from chalicelib.core.runtime import Runtime
from daskyard.local import quotas
from daskyard.local.stack import LocalMode, wait_execution
from tests.support.callers import ALICE
from tests.support.clusters import spec


def executions(stack: LocalMode, rt: Runtime) -> int:
    assert stack.clients is not None
    return len(stack.clients.sfn.list_executions(
        stateMachineArn=rt.settings.create_state_machine_arn)["executions"])


def test_a_create_past_the_applied_fargate_quota_is_refused_before_anything_is_made(
        rt: Runtime, stack: LocalMode) -> None:
    assert stack.clients is not None
    quotas.apply(*FARGATE_ON_DEMAND, 4)  # an account's approved quota: 4 vCPU
    made = lifecycle.create_cluster(rt, spec("first", workers=1), caller=ALICE)  # 2 vCPU
    assert wait_execution(stack.clients, made.execution_arn)["status"] == "SUCCEEDED"
    before = executions(stack, rt)
    with pytest.raises(QuotaExceeded) as refused:
        lifecycle.create_cluster(rt, spec("second", workers=2), caller=ALICE)  # 3 vCPU
    assert "L-3032A538" in str(refused.value) and "Fargate On-Demand vCPU" in str(refused.value)
    assert rt.registry.get("second") is None and executions(stack, rt) == before
    # What fits is made; Spot workers count on the Spot quota.
    assert lifecycle.create_cluster(rt, spec("small", workers=1), caller=ALICE)
    quotas.apply(*FARGATE_ON_DEMAND, 10)  # room for its scheduler on on-demand capacity
    quotas.apply(*FARGATE_SPOT, 1)
    with pytest.raises(QuotaExceeded, match="Fargate Spot vCPU"):
        lifecycle.create_cluster(rt, spec("spot", workers=2, launch_type="FARGATE_SPOT"),
                                 caller=ALICE)


def test_a_quota_known_only_by_its_default_refuses_nothing(rt: Runtime,
                                                           stack: LocalMode) -> None:
    """The documented default (6 vCPU) is no measure of an older account's quota."""
    made = lifecycle.create_cluster(rt, spec("big", workers=8), caller=ALICE)  # 9 vCPU
    assert stack.clients is not None
    assert wait_execution(stack.clients, made.execution_arn)["status"] == "SUCCEEDED"
