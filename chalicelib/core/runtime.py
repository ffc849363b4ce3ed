"""The objects a Lambda needs (settings, clients, registry), made once per container
and passed down from the handlers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from chalicelib.core.aws import Clients
from chalicelib.core.registry import Registry
from chalicelib.core.settings import Settings


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
