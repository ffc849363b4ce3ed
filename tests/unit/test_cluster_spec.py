"""A create request (chalicelib.core.models.ClusterSpec): what it accepts on its own,
and the stage limits check_limits applies."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.core.models import ClusterSpec
from chalicelib.core.settings import Settings


def spec(**kw: Any) -> ClusterSpec:
    return ClusterSpec.model_validate({"name": "demo", **kw})


def test_defaults() -> None:
    made = spec()
    assert (made.workers, made.worker_cpu, made.worker_memory, made.launch_type,
            made.teardown, made.ttl_hours, made.allowed_cidrs) == (
        2, 1024, 4096, "FARGATE", "nightly", None, [])


def test_cidrs_are_normalised_to_their_network() -> None:
    assert spec(allowed_cidrs=["10.1.2.3/16", "192.168.0.7"]).allowed_cidrs == [
        "10.1.0.0/16", "192.168.0.7/32"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "Demo"}, "String should match pattern"),
    ({"workers": -1}, "greater than or equal to 0"),
    ({"workers": "2"}, "Input should be a valid integer"),  # strict: no coercion
    ({"allowed_cidrs": ["10.0.0.0/33"]}, "'10.0.0.0/33' is not a CIDR block"),
    ({"teardown": "never", "ttl_hours": 4}, "ttl_hours cannot be combined"),
    ({"ttl_hours": 0}, "greater than or equal to 1"),
    ({"ttl_hours": 24 * 14 + 1}, "less than or equal to 336"),
    ({"worker_cpu": 1024, "worker_memory": 1024}, "is not a Fargate size"),
    ({"launch_type": "LAMBDA"}, "Input should be 'FARGATE', 'FARGATE_SPOT' or 'EC2'"),
    ({"gpus": 1}, "Extra inputs are not permitted"),
    ({"drive": "Shared"}, "String should match pattern"),
])
def test_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**fields)


def test_fargate_sizes_bind_fargate_only() -> None:
    assert spec(worker_cpu=256, worker_memory=512).worker_memory == 512
    assert spec(worker_cpu=4096, worker_memory=30 * 1024).worker_cpu == 4096
    assert spec(launch_type="EC2", worker_cpu=1024, worker_memory=1024).worker_memory == 1024
    with pytest.raises(ValidationError, match="is not a Fargate size"):
        spec(launch_type="FARGATE_SPOT", worker_cpu=256, worker_memory=4096)


SETTINGS = Settings(max_workers=16, allowed_instance_types=["t3.medium"],
                    allowed_cidrs=["10.0.0.0/8", "192.168.1.0/24"])


def test_a_spec_within_the_limits_has_no_problem() -> None:
    assert spec(workers=16, allowed_cidrs=["10.20.0.0/16", "192.168.1.128/25"]).check_limits(
        SETTINGS) == []
    assert spec(launch_type="EC2", instance_type="t3.medium").check_limits(SETTINGS) == []


def test_each_limit_names_its_field() -> None:
    assert spec(workers=17).check_limits(SETTINGS) == [
        ("workers", "at most 16 workers are allowed")]
    assert spec(launch_type="EC2", instance_type="m5.large").check_limits(SETTINGS) == [
        ("instance_type", "allowed instance types: t3.medium")]
    # A Fargate cluster's instance_type is not used, so not checked.
    assert spec(instance_type="m5.large").check_limits(SETTINGS) == []


def test_ingress_outside_the_stage_ranges_is_refused() -> None:
    assert spec(allowed_cidrs=["11.0.0.0/8", "10.0.0.0/7"]).check_limits(SETTINGS) == [
        ("allowed_cidrs", "11.0.0.0/8 is outside the stage's allowed ranges "
                          "10.0.0.0/8, 192.168.1.0/24"),
        ("allowed_cidrs", "10.0.0.0/7 is outside the stage's allowed ranges "
                          "10.0.0.0/8, 192.168.1.0/24")]
    assert spec(allowed_cidrs=["0.0.0.0/0"]).check_limits(SETTINGS) == [
        ("allowed_cidrs", "0.0.0.0/0 is not allowed on this stage")]
    [(field, reason)] = spec(allowed_cidrs=["::/0"]).check_limits(SETTINGS)
    assert field == "allowed_cidrs" and reason.endswith("is not allowed on this stage")
    [(field, reason)] = spec(allowed_cidrs=["fd00::/8"]).check_limits(SETTINGS)
    assert reason.startswith("fd00::/8 is outside")


def test_a_stage_that_allows_public_ingress_allows_any_range() -> None:
    public = SETTINGS.model_copy(update={"allow_public_ingress": True})
    assert spec(allowed_cidrs=["0.0.0.0/0", "11.0.0.0/8", "::/0"]).check_limits(public) == []


@pytest.mark.parametrize(("fields", "message"), [
    ({"environment": {"DASKYARD_SCHEDULER_PARAMETER": "/x"}}, "Daskyard's own or AWS's"),
    ({"environment": {"aws_region": "eu-west-1"}}, "Daskyard's own or AWS's"),
    ({"environment": {"DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "False"}},
     "Daskyard's own or AWS's"),
    ({"environment": {"JUPYTER_TOKEN": "known"}}, "Daskyard's own or AWS's"),
    ({"environment": {"1BAD": "x"}}, "is not a variable name"),
    ({"environment": {f"V{i}": "x" for i in range(51)}}, "at most 50 variables"),
    ({"environment": {"BIG": "x" * 4097}}, "at most 4096 characters"),
    ({"tags": {"daskyard:cluster": "other"}}, "prefixes are reserved"),
    ({"tags": {"AWS:cloudformation": "x"}}, "prefixes are reserved"),
    ({"tags": {"team": "a;b"}}, "the value must be"),
    ({"tags": {f"k{i}": "v" for i in range(41)}}, "at most 40 tags"),
    ({"worker_threads": 0}, "greater than or equal to 1"),
    ({"image": ""}, "at least 1 character"),
])
def test_options_that_could_break_or_impersonate_are_refused(fields: dict[str, Any],
                                                             message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**fields)


def test_threads_default_to_one_per_vcpu_and_at_least_one() -> None:
    assert [spec(worker_cpu=c, worker_memory=m).threads
            for c, m in ((256, 512), (1024, 2048), (4096, 8192))] == [1, 1, 4]
    assert spec(worker_threads=3).threads == 3


def test_an_image_must_be_on_the_stages_list() -> None:
    allowed = "123.dkr.ecr.us-east-1.amazonaws.com/daskyard-custom:1"
    assert spec(image=allowed).check_limits(Settings(allowed_images=[allowed])) == []
    assert spec(image="evil/miner:latest").check_limits(Settings(allowed_images=[allowed])) \
        == [("image", f"not one of the stage's allowed images: {allowed}")]
    assert spec(image=allowed).check_limits(Settings()) == [
        ("image", "not one of the stage's allowed images (the stage allows none)")]
