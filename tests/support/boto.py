"""botocore's service models, read once per test session rather than once per boto3
Session: every test's runtime makes its own Session, and each would otherwise parse the
same JSON models again (about 0.4 s a test)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import botocore.session


@contextmanager
def shared_model_loader() -> Iterator[None]:
    """Within the block, Sessions with the same data path share one botocore Loader
    (its parsed models are read-only); botocore's own factory is put back after."""
    original = botocore.session.create_loader
    botocore.session.create_loader = functools.lru_cache(maxsize=None)(original)
    try:
        yield
    finally:
        botocore.session.create_loader = original
