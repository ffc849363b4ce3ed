"""Slack command numbers are ASCII digits only: "²" and "٣" pass str.isdigit() (and
int() takes "٣"), so a digit test alone let them reach int() and answer 500."""

from __future__ import annotations

import pytest

from chalicelib.triggers.slack import Usage, two_args, up_spec


@pytest.mark.parametrize("number", ["²", "٣", "1²", "-1", "+2", " 2", "2\n", "12345", ""])
def test_scale_refuses_anything_but_a_few_ascii_digits(number: str) -> None:
    with pytest.raises(Usage):
        two_args(["demo", number])


def test_scale_takes_ascii_digits() -> None:
    assert two_args(["demo", "12"]) == ("demo", 12)


@pytest.mark.parametrize("option", ["workers=²", "workers=٣", "ttl=²h", "ttl=8h\n", "ttl=٣"])
def test_up_refuses_non_ascii_numbers_as_a_usage_error(option: str) -> None:
    with pytest.raises(Usage):
        up_spec(["demo", option])


def test_up_takes_ascii_numbers() -> None:
    spec = up_spec(["demo", "workers=3", "ttl=8h"])
    assert (spec.workers, spec.ttl_hours) == (3, 8)
