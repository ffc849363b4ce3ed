"""One module per state: each has `create(rt, call)` and, where it makes something of
the cluster's, its idempotent twin `delete(rt, call)` (and, where a state waits on AWS,
`wait(rt, call)` that raises NotReady until done). The step table (table.py) says which
state runs which; `run_step` runs one of them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from chalicelib.core.aws import error_code
from chalicelib.core.errors import NotReady, Throttled
from chalicelib.core.models import ClusterRecord, ClusterSpec, Drive, Network, Resources, StepEvent
from chalicelib.core.naming import Names
from chalicelib.core.observability import logger
from chalicelib.core.registry import Registry
from chalicelib.core.runtime import Runtime
from chalicelib.steps.table import step_of

THROTTLING_CODES = {"Throttling", "ThrottlingException", "ThrottledException",
                    "RequestLimitExceeded", "TooManyRequestsException",
                    "ProvisionedThroughputExceededException", "RequestThrottled",
                    "SlowDown"}
# Seconds a leased step counts as in flight: the Lambda timeout (60 s) and a margin,
# so a crashed Lambda stops blocking a destroy once it cannot be running any more.
STEP_LEASE = 90

StepResult = dict[str, Any]
T = TypeVar("T")


@dataclass
class StepCall:
    """One invocation of a step: what the state machine sent, the cluster's record, and
    what this step made (written to the record when the step ends)."""

    event: StepEvent
    registry: Registry
    stage: str
    loaded: ClusterRecord | None = None
    made: Resources = field(default_factory=Resources)

    @property
    def cluster(self) -> str:
        return self.event.cluster

    @property
    def names(self) -> Names:
        return Names(self.stage, self.event.cluster)

    @property
    def record(self) -> ClusterRecord:
        if self.loaded is None:
            self.loaded = self.registry.require(self.cluster)
        return self.loaded

    @property
    def spec(self) -> ClusterSpec:
        return self.record.spec

    def tags(self) -> dict[str, str]:
        """The owner's tags and Daskyard's (which win: the sweeper finds by them)."""
        return {**self.spec.tags, **self.names.tags()}

    @property
    def network(self) -> Network:
        return _needed(self.record.resources.network, "network")

    @property
    def drive(self) -> Drive:
        return _needed(self.record.resources.drive, "drive")

    def remember(self, **made: Any) -> None:
        """What this step made; later steps of this invocation see it at once."""
        for kind, value in made.items():
            setattr(self.made, kind, value)
            if self.loaded is not None:
                setattr(self.loaded.resources, kind, value)


def _needed(value: T | None, kind: str) -> T:
    if value is None:  # the state machine runs the step that makes it first
        raise NotReady(f"no {kind} recorded yet")
    return value


@contextmanager
def gone_ok(*codes: str) -> Iterator[None]:
    """Deleting what is already gone is done, not an error."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) not in codes:
            raise


def _throttling_named(action: Callable[[Runtime, StepCall], StepResult | None], rt: Runtime,
                      call: StepCall) -> StepResult:
    """Throttling past botocore's retries becomes the named error the ASL retries."""
    try:
        return action(rt, call) or {}
    except ClientError as exc:
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"{error_code(exc)}: {exc}") from exc
        raise


def run_step(rt: Runtime, raw_event: dict[str, Any]) -> StepResult:
    """Run the function the step table (table.py) gives the state the machine names.

    A leased step (its create makes the cluster's resources) first checks the cluster is
    still CREATING and marks itself in flight until it ends, so a destroy waits for it
    (MarkDeleting) rather than racing it; nothing more is built once a destroy or
    rollback has begun. What it made is written as it ends."""
    event = StepEvent.model_validate(raw_event)
    step = step_of(event.state)
    if event.action != step.function:  # the ASL is generated from the table: regenerate it
        raise ValueError(f"{event.state} runs {step.module}.{step.function}, "
                         f"not {event.action!r}")
    action = step.resolve()
    call = StepCall(event, rt.registry, rt.settings.stage)
    logger.info("step", step=step.module, action=event.action, cluster=event.cluster)
    if not step.leased:
        return _throttling_named(action, rt, call)
    call.loaded = rt.registry.steps.begin(event.cluster, step.state, int(time.time()) + STEP_LEASE)
    try:
        return _throttling_named(action, rt, call)
    finally:
        rt.registry.steps.end(event.cluster, step.state, call.made)
