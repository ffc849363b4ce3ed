"""A create that would pass one of the account's quotas it uses is refused before
anything is made, naming the quota (issue 24): AWS would otherwise refuse it halfway
through the create. The Fargate vCPU quotas refuse only when applied (AWS raises an
account's Fargate quota with its use); the IAM roles and EFS file systems quotas are
hard, and local mode holds them as IAM and EFS do. Quota values are cached per
container; the nightly summary reports each quota's headroom."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import lifecycle, teardown
from chalicelib.core import quotas as core_quotas
from chalicelib.core.errors import QuotaExceeded
from chalicelib.core.quotas import (
    EFS_FILE_SYSTEMS,
    FARGATE_ON_DEMAND,
    FARGATE_SPOT,
    IAM_ROLES,
    QUOTA_TTL,
    QuotaCache,
)
from chalicelib.core.runtime import Runtime, runtime
from daskyard.local import quotas
from daskyard.local.stack import LocalMode, wait_execution
from tests.support.callers import ALICE
from tests.support.clusters import create, spec
from tests.support.signed import SignedHttp
from tests.support.waiting import eventually


def executions(stack: LocalMode, rt: Runtime) -> int:
    assert stack.clients is not None
    return len(stack.clients.sfn.list_executions(
        stateMachineArn=rt.settings.create_state_machine_arn)["executions"])


def file_systems(stack: LocalMode) -> int:
    assert stack.clients is not None
    return len(stack.clients.efs.describe_file_systems()["FileSystems"])


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
    rt.clients.quota_cache.clear()  # as QUOTA_TTL passing would: the raise is seen
    with pytest.raises(QuotaExceeded, match="Fargate Spot vCPU"):
        lifecycle.create_cluster(rt, spec("spot", workers=2, launch_type="FARGATE_SPOT"),
                                 caller=ALICE)


def test_a_quota_known_only_by_its_default_refuses_nothing(rt: Runtime,
                                                           stack: LocalMode) -> None:
    """The documented default (6 vCPU) is no measure of an older account's quota."""
    made = lifecycle.create_cluster(rt, spec("big", workers=8), caller=ALICE)  # 9 vCPU
    assert stack.clients is not None
    assert wait_execution(stack.clients, made.execution_arn)["status"] == "SUCCEEDED"


def create_answer(http: SignedHttp, name: str, **kw: Any) -> Any:
    return http.post("/clusters", headers={"Content-Type": "application/json"},
                     body=json.dumps({"name": name, "workers": 1,
                                      "allowed_cidrs": ["10.1.0.0/16"], **kw}))


def test_a_create_past_the_iam_roles_quota_is_refused_before_anything_is_made(
        rt: Runtime, stack: LocalMode, http: SignedHttp) -> None:
    """Through the API, as the API's role: each cluster makes its scheduler's role."""
    assert stack.clients is not None
    iam = stack.clients.iam
    roles = iam.get_account_summary()["SummaryMap"]["Roles"]
    quotas.apply(*IAM_ROLES, roles + 1)  # room for one cluster's role
    assert iam.get_account_summary()["SummaryMap"]["RolesQuota"] == roles + 1
    first = create_answer(http, "first")
    assert first.status_code == 202, first.body
    execution = json.loads(first.body)["execution_arn"]
    assert wait_execution(stack.clients, execution)["status"] == "SUCCEEDED"
    before, systems = executions(stack, rt), file_systems(stack)

    refused = create_answer(http, "second")
    assert refused.status_code == 403, refused.body
    answer = json.loads(refused.body)
    assert answer["code"] == "QuotaExceeded"
    assert all(part in answer["error"] for part in (
        "IAM roles", "iam L-FE177D64", f"{roles + 1} of its quota of {roles + 1}"))
    assert rt.registry.get("second") is None and executions(stack, rt) == before
    assert file_systems(stack) == systems
    assert iam.get_account_summary()["SummaryMap"]["Roles"] == roles + 1
    # What the create would have met halfway, as IAM refuses it.
    with pytest.raises(ClientError, match="LimitExceeded"):
        iam.create_role(RoleName="one-too-many", AssumeRolePolicyDocument="{}")


def test_a_create_past_the_efs_file_systems_quota_is_refused_before_anything_is_made(
        rt: Runtime, stack: LocalMode) -> None:
    assert stack.clients is not None
    quotas.apply(*EFS_FILE_SYSTEMS, file_systems(stack) + 1)  # room for one cluster's
    assert create(rt, stack, "first")["status"] == "SUCCEEDED"
    before = executions(stack, rt)
    with pytest.raises(QuotaExceeded) as refused:
        lifecycle.create_cluster(rt, spec("second"), caller=ALICE)
    message = str(refused.value)
    limit = file_systems(stack)
    assert all(part in message for part in (
        "EFS file systems", "elasticfilesystem L-848C634D", f"of its quota of {limit}"))
    assert rt.registry.get("second") is None and executions(stack, rt) == before
    assert file_systems(stack) == limit
    with pytest.raises(ClientError, match="FileSystemLimitExceeded"):
        stack.clients.efs.create_file_system(CreationToken="one-too-many")


def test_a_spare_or_an_existing_named_drive_is_not_counted_against_efs(
        stack: LocalMode, stage_config: Any) -> None:
    """At the quota, a create that makes no file system still goes: one naming a drive
    that exists, one taking a spare drive. One naming a new drive, or with no spare
    left, is refused."""
    assert stack.clients is not None
    efs = stack.clients.efs
    stage_config(spare_drives=1)
    rt = runtime()
    # The drive's cluster makes the drive; its KeepSpareDrives makes the spare.
    assert create(rt, stack, "maker", drive="shared")["status"] == "SUCCEEDED"

    def spare_serving() -> bool:
        spares = [fs for fs in efs.describe_file_systems()["FileSystems"]
                  if fs["CreationToken"].startswith(f"daskyard-{rt.settings.stage}.spare-")]
        return len(spares) == 1 and all(
            mt["LifeCycleState"] == "available" for mt in efs.describe_mount_targets(
                FileSystemId=spares[0]["FileSystemId"])["MountTargets"])

    eventually(spare_serving, 30, what="the spare's mount targets")
    quotas.apply(*EFS_FILE_SYSTEMS, file_systems(stack))  # at the quota
    rt.clients.quota_cache.clear()

    assert create(rt, stack, "on-shared", drive="shared")["status"] == "SUCCEEDED"
    with pytest.raises(QuotaExceeded, match="L-848C634D"):
        lifecycle.create_cluster(rt, spec("on-new", drive="fresh"), caller=ALICE)
    assert rt.drives.get("fresh") is None  # not claimed either
    assert create(rt, stack, "takes-spare")["status"] == "SUCCEEDED"
    drive = rt.registry.require("takes-spare").resources.drive
    assert drive is not None and drive.spare
    # No spare is left (making another met the quota, and the create went on).
    with pytest.raises(QuotaExceeded, match="L-848C634D"):
        lifecycle.create_cluster(rt, spec("no-spare-left"), caller=ALICE)


def test_a_burst_of_creates_asks_service_quotas_once_per_quota_per_ttl(
        rt: Runtime, stack: LocalMode) -> None:
    assert stack.clients is not None
    now = [0.0]
    rt.clients.quota_cache = QuotaCache(timer=lambda: now[0])
    asked: list[tuple[str, str, str]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        asked.append((model.name, params["ServiceCode"], params["QuotaCode"]))

    rt.clients.quotas.meta.events.register("provide-client-params.service-quotas", record)
    quotas.apply(*FARGATE_ON_DEMAND, 100)  # applied: EFS's is AWS's default
    made = [lifecycle.create_cluster(rt, spec(f"burst-{i}", workers=1), caller=ALICE)
            for i in range(4)]
    reads = {("GetServiceQuota", *FARGATE_ON_DEMAND), ("GetServiceQuota", *EFS_FILE_SYSTEMS),
             ("GetAWSDefaultServiceQuota", *EFS_FILE_SYSTEMS)}
    assert sorted(asked) == sorted(reads)  # once each for 4 creates
    now[0] += QUOTA_TTL + 1
    lifecycle.create_cluster(rt, spec("after-ttl", workers=1), caller=ALICE)
    assert sorted(asked) == sorted([*reads, *reads])  # read afresh, once each
    for record_ in made:
        wait_execution(stack.clients, record_.execution_arn)


def test_the_nightly_summary_reports_each_account_quotas_headroom(
        rt: Runtime, stack: LocalMode) -> None:
    assert stack.clients is not None
    quotas.apply(*FARGATE_ON_DEMAND, 10)  # the cluster holds 3 vCPU: plenty left
    assert create(rt, stack, "kept", workers=2, teardown="never")["status"] == "SUCCEEDED"
    roles = stack.clients.iam.get_account_summary()["SummaryMap"]["Roles"]
    quotas.apply(*IAM_ROLES, roles + 1)  # one role left: low
    report = teardown.nightly(rt)
    by_name = {h.name: h for h in report.headroom}
    assert set(by_name) == {core_quotas.NAMES[k] for k in (
        FARGATE_ON_DEMAND, FARGATE_SPOT, EFS_FILE_SYSTEMS, IAM_ROLES)}
    on_demand, roles_left = by_name["Fargate On-Demand vCPU"], by_name["IAM roles"]
    assert (on_demand.used, on_demand.limit, on_demand.default, on_demand.low) == (
        3, 10, False, False)
    assert (roles_left.used, roles_left.limit, roles_left.low) == (roles, roles + 1, True)
    efs = by_name["EFS file systems"]
    assert (efs.used, efs.limit, efs.default) == (file_systems(stack), 1000, True)
    text = report.text()
    assert "Fargate On-Demand vCPU 3 of 10 (this stage's live clusters)" in text
    assert f"IAM roles {roles} of {roles + 1} (the account) LOW: 1 left, Service Quotas " \
           "iam L-FE177D64" in text
    assert f"EFS file systems {file_systems(stack)} of 1000 (the account in " \
           f"{rt.clients.region}, AWS default)" in text
    assert "Fargate Spot vCPU 0 of 6 (this stage's live clusters, AWS default)" in text
