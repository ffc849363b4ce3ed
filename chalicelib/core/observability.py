"""Logs, traces and metrics, set up once for every Lambda (Powertools): import `logger`,
`tracer` and `metrics` from here. Metrics are CloudWatch EMF lines in the Lambda's log,
so they cost no API call; app.py's middleware flushes them after each invocation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "daskyard"
NAMESPACE = "Daskyard"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """One EMF metric; dimensions (e.g. the failed step) get a metric line of their own,
    so they never mix with the function-wide ones."""
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value,
                               namespace=NAMESPACE) as metric:
        for key, dim in dimensions.items():
            metric.add_dimension(name=key, value=dim)


def seconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)


def instrument(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Every Lambda handler, once (app.py's middleware): the invocation's context in each
    log line, an X-Ray segment, and this invocation's metrics flushed at its end."""
    return tracer.capture_lambda_handler(metrics.log_metrics(logger.inject_lambda_context(handler)))
