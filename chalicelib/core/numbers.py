"""The one rule for a number written as text by someone outside (a query string, a
header, a Slack command): ASCII digits only, without a sign, spaces, underscores or a
leading zero, at most so many digits. `int()` alone takes "+1", " 1\\n", "1_000", "01"
and "\\u0661" (str.isdigit() even takes "²", which int() then refuses with a 500); each is a
second spelling of a number, and a second spelling of a signed or remembered value is a
replay that no longer looks like one."""

from __future__ import annotations

import re

from chalicelib.core.errors import InvalidRequest


def pattern(digits: int = 15) -> str:
    """The rule as a regular expression, for docs/openapi.json too. [0-9] is ASCII in
    Python's re (\\d is not)."""
    return f"^(0|[1-9][0-9]{{0,{digits - 1}}})$"


def whole_number(text: str, field: str, digits: int = 15) -> int:
    """`text` as a whole number if it is one's only spelling, of at most `digits` digits;
    else InvalidRequest (400) naming `field`."""
    if not re.fullmatch(pattern(digits), text):  # fullmatch: "$" alone takes "1\n"
        raise InvalidRequest(f"{field}: a whole number, at most {digits} ASCII digits without "
                             "sign, spaces or leading zeros")
    return int(text)
