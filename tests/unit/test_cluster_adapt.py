"""DaskyardCluster.adapt as distributed's: its keywords become the request the
scheduler's adaptive loop reads; what it cannot honour it refuses, before any request."""

from __future__ import annotations

from typing import Any

import pytest

from daskyard.cluster import DaskyardAdaptive, DaskyardCluster


class Api:
    """The record as the API answers it: the spec, and the bounds (the stage's 16 when
    no maximum is asked for)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.bodies: list[dict[str, Any]] = []

    def adapt_with(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        return {"spec": self.spec, "adapt": {**body, "maximum": body["maximum"] or 16}}


class Synchronous(DaskyardCluster):
    asynchronous = False  # no loop: the calls are made in the caller's thread


def cluster(**spec: Any) -> tuple[DaskyardCluster, Api]:
    made = object.__new__(Synchronous)  # no API behind it but the fake
    api = Api(spec)
    made.__dict__.update(api=api, record={"spec": spec}, _request={}, _daskyard_adaptive=None,
                         _cluster_info={"name": "c"})
    return made, api


def test_adapt_returns_an_adaptive_with_distributeds_attributes_and_options() -> None:
    made, api = cluster(worker_cpu=2048, worker_memory=8192)
    adaptive = made.adapt(1, 5, interval="500ms", wait_count=2, target_duration="1m")
    assert isinstance(adaptive, DaskyardAdaptive) and made.adaptive is adaptive
    assert (adaptive.minimum, adaptive.maximum) == (1, 5)
    assert api.bodies == [{"minimum": 1, "maximum": 5, "interval": 0.5, "wait_count": 2,
                           "target_duration": 60.0}]
    # Cores and memory in this cluster's workers: 2 threads (2 vCPU), 8 GiB each.
    made.adapt(minimum_cores=3, maximum_memory="20 GiB")
    assert api.bodies[-1] == {"minimum": 2, "maximum": 2}


def test_no_maximum_asks_for_the_stages_and_keeps_what_was_recorded() -> None:
    made, api = cluster(worker_threads=4)
    adaptive = made.adapt(minimum=1)
    assert api.bodies == [{"minimum": 1, "maximum": None}]
    assert adaptive.maximum == 16


def test_adapt_refuses_keywords_no_adaptive_loop_takes() -> None:
    made, api = cluster()
    with pytest.raises(TypeError, match="unexpected keyword arguments worker_key"):
        made.adapt(1, 3, worker_key=len)
    assert api.bodies == []
