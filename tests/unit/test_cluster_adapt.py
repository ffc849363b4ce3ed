"""DaskyardCluster.adapt: what it cannot honour it refuses, before any request."""

from __future__ import annotations

import pytest

from daskyard.cluster import DaskyardCluster


def test_adapt_refuses_the_options_the_schedulers_own_adaptive_does_not_take() -> None:
    cluster = object.__new__(DaskyardCluster)  # no API behind it: nothing may be called
    with pytest.raises(TypeError, match="not interval, wait_count"):
        cluster.adapt(1, 3, interval="1s", wait_count=2)
    with pytest.raises(ValueError, match="maximum="):
        cluster.adapt(1)
