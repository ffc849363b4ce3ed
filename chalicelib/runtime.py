"""The objects a Lambda needs, made once per container and passed in from here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.aws import Clients
from chalicelib.errors import ClusterBusy
from chalicelib.models import Status, StepEvent
from chalicelib.registry import Registry
from chalicelib.settings import Settings
from chalicelib.steps import StepContext, StepResult, run

logger = Logger(service="daskyard")
BUILDING = ("create", "wait")


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
    # Nothing more is built once a destroy or rollback has begun: in-flight branches
    # of a failed Parallel, or a create racing a delete, stop here.
    if event.action in BUILDING and rt.registry.update(
            event.cluster, condition="#status = :creating",
            condition_values={":creating": Status.CREATING.value},
            step=event.state or event.action) is None:
        raise ClusterBusy(f"cluster {event.cluster!r} is no longer being created")
    logger.info("step", step=module.__name__.rsplit(".", 1)[-1], action=event.action,
                cluster=event.cluster)
    return run(action, StepContext(event.cluster, rt.clients, rt.settings, rt.registry, event))
