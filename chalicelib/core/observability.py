"""Logs, traces and metrics, set up once for every Lambda (Powertools): import `logger`,
`tracer()` and `metrics` from here. Metrics are CloudWatch EMF lines in the Lambda's log,
so they cost no API call; app.py's middleware flushes them after each invocation.

Tracing needs the X-Ray SDK, which the deployment package leaves out (it brings its own
botocore: 4 MiB would become 21 MiB); add it with the Powertools Lambda layer and
traces start. The tracer is made on first use, so a Lambda without it pays nothing."""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

SERVICE = "daskyard"
NAMESPACE = "Daskyard"

# Most invocations emit no metric; that is not worth a warning in every log.
warnings.filterwarnings("ignore", message="No application metrics to publish")
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


@cache
def tracer() -> Tracer:
    return Tracer(service=SERVICE)


@cache
def tracing() -> bool:
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true")
    return not disabled and importlib.util.find_spec("aws_xray_sdk") is not None


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """One EMF metric; dimensions (e.g. the failed step) get a metric line of their own,
    so they never mix with the function-wide ones."""
    if is_metrics_disabled():  # nothing kept that no flush will ever clear
        return
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value,
                               namespace=NAMESPACE) as metric:
        for key, dim in dimensions.items():
            metric.add_dimension(name=key, value=dim)


def seconds(name: str, value: float) -> None:
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)


def instrument(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Every Lambda handler, once (app.py's middleware): the invocation's context in each
    log line, an X-Ray segment, and this invocation's metrics flushed at its end."""
    logged = metrics.log_metrics(logger.inject_lambda_context(handler))
    return tracer().capture_lambda_handler(logged) if tracing() else logged
