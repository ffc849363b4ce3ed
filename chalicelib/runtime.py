"""The objects a Lambda needs, made once per container and passed in from here."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.aws import Clients
from chalicelib.errors import ClusterBusy
from chalicelib.models import StepEvent
from chalicelib.registry import Registry
from chalicelib.settings import Settings
from chalicelib.steps import StepContext, StepResult, run

logger = Logger(service="daskyard")
BUILDING = ("create", "wait")
# Seconds a building step counts as in flight: the Lambda timeout (60 s) and a margin,
# so a crashed Lambda stops blocking a destroy once it cannot be running any more.
STEP_LEASE = 90


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    clients: Clients
    registry: Registry


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    settings = Settings.from_env()
    clients = Clients(region=settings.region)
    return Runtime(settings, clients, Registry(clients.dynamodb, settings.table))


def run_step(module: ModuleType, raw_event: dict[str, Any]) -> StepResult:
    """Run `action` of a step module for the cluster the state machine names."""
    event = StepEvent.model_validate(raw_event)
    rt = runtime()
    action = getattr(module, event.action, None)
    if action is None:
        raise ValueError(f"{module.__name__} has no action {event.action!r}")
    ctx = StepContext(event.cluster, rt.clients, rt.settings, rt.registry, event)
    logger.info("step", step=module.__name__.rsplit(".", 1)[-1], action=event.action,
                cluster=event.cluster)
    if event.action not in BUILDING:
        return run(action, ctx)
    # Nothing more is built once a destroy or rollback has begun, and a building step
    # is marked in flight until it ends, so the destroy waits for it (MarkDeleting)
    # rather than racing a step that is still creating something.
    state = event.state or event.action
    if not rt.registry.begin_step(event.cluster, state, int(time.time()) + STEP_LEASE):
        raise ClusterBusy(f"cluster {event.cluster!r} is no longer being created")
    try:
        return run(action, ctx)
    finally:
        rt.registry.end_step(event.cluster, state)
