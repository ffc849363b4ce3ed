"""Waiting for something the emulator does in its own threads, in one way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(predicate: Callable[[], T | None], timeout: float = 60,
               interval: float = 0.05, what: str = "") -> T:
    """The predicate's first truthy value, checked every `interval` seconds (at least
    once, and once more at the deadline); AssertionError with the last value it returned
    when none was truthy within `timeout` seconds. Exceptions it raises propagate."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            name = what or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"{name}: not true after {timeout} s; last value: {value!r}")
        time.sleep(interval)
