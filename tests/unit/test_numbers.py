"""One rule for numbers from outside (chalicelib.core.numbers): a number's only
spelling, ASCII digits, bounded; anything else a 400 naming the field."""

from __future__ import annotations

import pytest

from chalicelib.core.errors import InvalidRequest
from chalicelib.core.numbers import whole_number


@pytest.mark.parametrize(("text", "number"), [("0", 0), ("7", 7), ("1700000000", 1_700_000_000),
                                              ("9" * 15, 10**15 - 1)])
def test_a_number_in_its_one_spelling_is_taken(text: str, number: int) -> None:
    assert whole_number(text, "limit") == number


# int() takes all but the last four; str.isdigit() takes "²", "\u0663", "\uff13".
@pytest.mark.parametrize("text", ["+5", " 5", "5 ", "5\n", "\t5", "1_0", "05", "00", "-0",
                                  "\u0663", "\uff13", "\U0001d7d3", "²", "-1", "5.0", "0x5",
                                  "", "9" * 16])
def test_every_other_spelling_is_a_400_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^limit: a whole number") as refused:
        whole_number(text, "limit")
    assert refused.value.STATUS_CODE == 400


def test_the_length_is_bounded_by_the_caller() -> None:
    assert whole_number("9999", "workers", 4) == 9999
    with pytest.raises(InvalidRequest, match="at most 4 ASCII digits"):
        whole_number("10000", "workers", 4)
