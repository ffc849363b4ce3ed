"""The launch-type seam (chalicelib/core/launch_types.py): one class per launch type a
request may name, each answering the same questions, so the steps never branch on the
type's name, nor do request validation, the cost estimate and the quotas. Pure: no
emulator."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar, get_args

import pytest

from chalicelib.core import pricing, quotas
from chalicelib.core.launch_types import FARGATE_SPOT, LAUNCH_TYPES, Fargate, Quota, launch_type
from chalicelib.core.models import ClusterSpec, Network
from chalicelib.core.naming import Names
from chalicelib.core.settings import EC2_SIZES, NOTEBOOK_SIZE, Prices, Settings
from tests.support.clusters import spec

NAMES = tuple(get_args(ClusterSpec.model_fields["launch_type"].annotation))
NETWORK = Network(vpc="vpc-1", subnets=["subnet-1", "subnet-2"], security_group="sg-1")


def call_for(cluster: ClusterSpec) -> Any:
    return SimpleNamespace(spec=cluster, names=Names("dev", cluster.name), network=NETWORK)


def rt(public_ip: bool = True) -> Any:
    return SimpleNamespace(settings=SimpleNamespace(assign_public_ip=public_ip))


def test_every_launch_type_a_request_may_name_has_its_class() -> None:
    assert set(LAUNCH_TYPES) == set(NAMES)
    for name in NAMES:
        assert launch_type(spec(launch_type=name)).name == name


@pytest.mark.parametrize("name", NAMES)
def test_networking_follows_the_specs_network_mode(name: str) -> None:
    cluster = spec(launch_type=name)
    configured = launch_type(cluster).networking(rt(), call_for(cluster))
    if cluster.network_mode == "bridge":
        assert configured == {}
    else:
        assert configured == {"networkConfiguration": {"awsvpcConfiguration": {
            "subnets": ["subnet-1", "subnet-2"], "securityGroups": ["sg-1"],
            "assignPublicIp": "ENABLED"}}}


def test_placement_keeps_the_scheduler_off_spot() -> None:
    def placed(name: str, role: str) -> dict[str, Any]:
        cluster = spec(launch_type=name)
        return launch_type(cluster).placement(call_for(cluster), role)

    spot = {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}
    assert placed("FARGATE", "worker") == placed("FARGATE", "scheduler") == {
        "launchType": "FARGATE"}
    assert placed("FARGATE_SPOT", "worker") == spot
    assert placed("FARGATE_SPOT", "scheduler") == placed("FARGATE_SPOT", "notebook") == {
        "launchType": "FARGATE"}
    assert placed("EC2", "scheduler") == placed("EC2", "worker") == {
        "capacityProviderStrategy": [{"capacityProvider": "daskyard-dev-demo", "weight": 1}]}


def test_traits_and_fit() -> None:
    ec2 = spec(launch_type="EC2", instance_type=min(EC2_SIZES, key=lambda t: EC2_SIZES[t][1]))
    assert [launch_type(spec(launch_type=n)).ssh for n in NAMES] == [n == "EC2" for n in NAMES]
    assert {launch_type(spec(launch_type=n)).compatibility for n in NAMES} == {"FARGATE", "EC2"}
    assert launch_type(spec()).fit(spec(), *NOTEBOOK_SIZE) == NOTEBOOK_SIZE
    cpu, memory = launch_type(ec2).fit(ec2, *NOTEBOOK_SIZE)
    assert (cpu, memory) == (NOTEBOOK_SIZE[0],
                             min(NOTEBOOK_SIZE[1], EC2_SIZES[ec2.instance_type][1]))


def test_validation_cost_and_quotas_ask_the_launch_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """ClusterSpec, the cost estimate and the quotas read every launch-type answer from
    its class: a class that answers otherwise changes what each of them says."""

    class Other(Fargate):
        network_mode: ClassVar[str] = "bridge"

        def check_size(self, spec: ClusterSpec) -> None:
            if spec.workers == 3:
                raise ValueError("three workers do not fit")

        def limits(self, spec: ClusterSpec, settings: Settings) -> list[tuple[str, str]]:
            return [("workers", "not on this stage")]

        def vcpus(self, spec: ClusterSpec) -> dict[Quota, float]:
            return {FARGATE_SPOT: 7.0}

        def hourly(self, spec: ClusterSpec, prices: Prices, public_ips: bool) -> float:
            return 1.25

    plain = spec()
    assert (plain.network_mode, pricing.hourly(plain, Prices())) != ("bridge", 1.25)
    monkeypatch.setitem(LAUNCH_TYPES, "FARGATE", Other())
    assert plain.network_mode == "bridge"
    assert pricing.hourly(plain, Prices()) == 1.25
    assert quotas.fargate_vcpus(plain) == {FARGATE_SPOT: 7.0}
    assert plain.check_limits(Settings()) == [("workers", "not on this stage")]
    with pytest.raises(ValueError, match="three workers do not fit"):
        spec(workers=3)
