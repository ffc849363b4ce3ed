"""One module per state: each has `create(ctx)` and its idempotent twin `delete(ctx)`
(and, where a state waits on AWS, `wait(ctx)` that raises NotReady until done)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws import Clients
from chalicelib.errors import Throttled
from chalicelib.models import ClusterRecord, ClusterSpec, StepEvent
from chalicelib.registry import Registry
from chalicelib.settings import Settings

THROTTLING_CODES = {"Throttling", "ThrottlingException", "ThrottledException",
                    "RequestLimitExceeded", "TooManyRequestsException",
                    "ProvisionedThroughputExceededException", "RequestThrottled",
                    "SlowDown"}

StepResult = dict[str, Any]


@dataclass
class StepContext:
    cluster: str
    clients: Clients
    settings: Settings
    registry: Registry
    event: StepEvent

    @cached_property
    def record(self) -> ClusterRecord:
        return self.registry.require(self.cluster)

    @property
    def spec(self) -> ClusterSpec:
        return self.record.spec

    def remember(self, kind: str, value: Any) -> None:
        """Record a resource id at once, so a crash after this still leaves it findable."""
        self.registry.record_resource(self.cluster, kind, value)
        self.record.resources[kind] = value


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def gone_ok(*codes: str) -> Iterator[None]:
    """Deleting what is already gone is done, not an error."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) not in codes:
            raise


def run(action: Callable[[StepContext], StepResult | None], ctx: StepContext) -> StepResult:
    """Run one step action; throttling past botocore's retries becomes the named error
    the state machine retries."""
    try:
        return action(ctx) or {}
    except ClientError as exc:
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"{error_code(exc)}: {exc}") from exc
        raise
