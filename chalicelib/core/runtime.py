"""The objects a Lambda needs (settings, clients, registry), made once per container
and passed down from the handlers. A Lambda container serves one stage; a process that
runs two stages' handlers (an emulator holding both) says which one each call serves
with `serving`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.core.aws import Clients
from chalicelib.core.naming import Names
from chalicelib.core.registry import Registry
from chalicelib.core.settings import Settings

if TYPE_CHECKING:
    from chalicelib.core.drives import Drives


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    clients: Clients
    registry: Registry

    def names(self, cluster: str) -> Names:
        return Names(self.settings.stage, cluster)

    @property
    def drives(self) -> Drives:
        """Named drives' owners and shares: their table beside the registry's (imported
        here: only the API's creates and drive routes need it)."""
        from chalicelib.core.drives import Drives

        return Drives(self.clients.dynamodb, self.settings.drives_table)


_serving: ContextVar[Runtime | None] = ContextVar("daskyard_runtime", default=None)


@contextmanager
def serving(rt: Runtime) -> Iterator[Runtime]:
    """Within this block (this thread or task only) `runtime()` is `rt`."""
    token = _serving.set(rt)
    try:
        yield rt
    finally:
        _serving.reset(token)


def runtime() -> Runtime:
    return _serving.get() or from_env()


@lru_cache(maxsize=1)
def from_env() -> Runtime:
    settings = Settings.from_env()
    clients = Clients(region=settings.region)
    return Runtime(settings, clients, Registry(clients.dynamodb, settings.table))
