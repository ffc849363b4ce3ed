"""botocore's service models and client classes, made once per test session rather than
once per boto3 Session and client: every test's local mode makes new Lambda containers
(so new Sessions and clients), and each would otherwise parse the same JSON models again
(about 0.4 s a test) and generate the same client class again (a method and docstring per
operation: EC2's has about 700, 15 ms)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client
import botocore.session


@contextmanager
def shared_botocore() -> Iterator[None]:
    """Within the block, Sessions with the same data path share one botocore Loader (its
    parsed models are read-only), and clients of one service and API version share one
    generated class (its methods only name the operation: each client keeps its own
    model, endpoint, credentials and event handlers); botocore's own are put back after."""
    loader = botocore.session.create_loader
    creator = botocore.client.ClientCreator
    generate = creator._create_client_class
    classes: dict[tuple[str, str], type] = {}
    lock = threading.Lock()

    def client_class(self: Any, service_name: str, service_model: Any) -> type:
        key = (service_name, service_model.api_version)
        with lock:
            if key not in classes:
                classes[key] = generate(self, service_name, service_model)
            return classes[key]

    botocore.session.create_loader = functools.lru_cache(maxsize=None)(loader)
    creator._create_client_class = client_class  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.session.create_loader = loader
        creator._create_client_class = generate  # type: ignore[method-assign]
