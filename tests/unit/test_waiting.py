"""tests/support/waiting.eventually, the one way tests wait."""

from __future__ import annotations

import time

import pytest

from tests.support.waiting import eventually


def test_returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, "", ["found"], ["later"]])
    assert eventually(lambda: next(answers), timeout=5, interval=0) == ["found"]


def test_checks_once_even_with_no_time() -> None:
    assert eventually(lambda: "now", timeout=0) == "now"


def test_times_out_with_the_last_value() -> None:
    calls = []

    def count() -> int:
        calls.append(1)
        return 0 if len(calls) < 1000 else 1

    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"the count: not true after 0.2 s; last value: 0"):
        eventually(count, timeout=0.2, interval=0.01, what="the count")
    assert 0.2 <= time.monotonic() - started < 2
    assert len(calls) >= 2  # it polled, and checked once more at the deadline


def test_an_exception_in_the_predicate_propagates() -> None:
    def broken() -> bool:
        raise KeyError("no such record")

    with pytest.raises(KeyError, match="no such record"):
        eventually(broken, timeout=5)
