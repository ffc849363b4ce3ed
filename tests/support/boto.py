"""botocore's service models and client classes, made once per test session rather than
once per boto3 Session and client: every test's local mode makes new Lambda containers
(so new Sessions and clients), and each would otherwise generate the same client class
again (a method and docstring per operation: EC2's has about 700, 15 ms) and its
exception classes at its first error; a new Session checks each of its ~150 built-in
handlers' signature again, and each new client works out the aliases of the same event
names again. The JSON models a Clients reads once per process itself
(chalicelib.core.aws); the other Sessions (the interpreter's, a test's own) share one
loader here."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client
import botocore.errorfactory
import botocore.hooks
import botocore.session


@contextmanager
def shared_botocore() -> Iterator[None]:
    """Within the block, Sessions with the same data path share one botocore Loader (its
    parsed models are read-only), and clients of one service and API version share one
    generated class (its methods only name the operation: each client keeps its own
    model, endpoint, credentials and event handlers) and one set of exception classes,
    as the clients of one Session do; whether a function takes **kwargs (botocore asks it
    of every handler registered) is known once per function, and an event name's alias
    under botocore's own aliases once; botocore's own are put back after."""
    loader = botocore.session.create_loader
    creator = botocore.client.ClientCreator
    generate = creator._create_client_class
    errors = botocore.errorfactory.ClientExceptionsFactory
    exceptions = errors.create_client_exceptions
    classes: dict[tuple[str, str], type] = {}
    made: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()
    takes_kwargs = botocore.hooks.accepts_kwargs
    aliaser = botocore.hooks.EventAliaser
    alias = aliaser._alias_event_name
    aliased: dict[str, str] = {}

    def alias_event_name(self: Any, event_name: str) -> str:
        if self._event_aliases != botocore.hooks.EVENT_ALIASES:  # a client's own aliases
            return str(alias(self, event_name))
        if event_name not in aliased:
            aliased[event_name] = alias(self, event_name)
        return aliased[event_name]
    known: dict[Any, bool] = {}

    def accepts_kwargs(func: Any) -> bool:
        if not inspect.isfunction(func):  # a bound method lives as long as its call
            return bool(takes_kwargs(func))
        if func not in known:
            known[func] = bool(takes_kwargs(func))
        return known[func]

    def client_class(self: Any, service_name: str, service_model: Any) -> type:
        key = (service_name, service_model.api_version)
        with lock:
            if key not in classes:
                classes[key] = generate(self, service_name, service_model)
            return classes[key]

    def client_exceptions(self: Any, service_model: Any) -> Any:
        key = (service_model.service_name, service_model.api_version)
        with lock:
            if key not in made:
                made[key] = exceptions(self, service_model)
            return made[key]

    botocore.session.create_loader = functools.lru_cache(maxsize=None)(loader)
    creator._create_client_class = client_class  # type: ignore[method-assign]
    errors.create_client_exceptions = client_exceptions  # type: ignore[method-assign]
    botocore.hooks.accepts_kwargs = accepts_kwargs
    aliaser._alias_event_name = alias_event_name  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.session.create_loader = loader
        creator._create_client_class = generate  # type: ignore[method-assign]
        errors.create_client_exceptions = exceptions  # type: ignore[method-assign]
        botocore.hooks.accepts_kwargs = takes_kwargs
        aliaser._alias_event_name = alias  # type: ignore[method-assign]
