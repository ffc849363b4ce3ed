"""Metrics leave as CloudWatch EMF lines, flushed by the one middleware wrapper."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.local import LambdaContext

from chalicelib.core import observability


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, filter(None, out.splitlines())) if "_aws" in line]


@pytest.fixture(autouse=True)
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    observability.metrics.clear_metrics()


def test_a_handler_wrapped_by_instrument_flushes_its_metrics(
        capsys: pytest.CaptureFixture[str]) -> None:
    def handler(event: dict[str, Any], context: Any) -> str:
        observability.count("ClustersReady")
        observability.seconds("TimeToReady", 42.0)
        return "done"

    wrapped = observability.instrument(handler)
    assert wrapped({}, LambdaContext("PublishEndpoints", memory_size=128)) == "done"
    [line] = emf_lines(capsys.readouterr().out)
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Daskyard"
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "ClustersReady": "Count", "TimeToReady": "Seconds"}
    assert (line["ClustersReady"], line["TimeToReady"]) == ([1.0], [42.0])


def test_a_failure_metric_carries_the_step_as_its_own_dimension(
        capsys: pytest.CaptureFixture[str]) -> None:
    observability.count("ClustersFailed", step="StartWorkers")
    [line] = emf_lines(capsys.readouterr().out)
    assert line["step"] == "StartWorkers"
    assert any("step" in dims for dims in line["_aws"]["CloudWatchMetrics"][0]["Dimensions"])


def test_nothing_is_kept_or_printed_when_metrics_are_off(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    observability.count("ClustersReady")
    observability.count("ClustersFailed", step="StartWorkers")
    assert observability.metrics.metric_set == {}
    assert emf_lines(capsys.readouterr().out) == []
