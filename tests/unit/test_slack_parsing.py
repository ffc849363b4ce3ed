"""The Slack command's parsing (chalicelib.triggers.slack), without Slack or AWS."""

from __future__ import annotations

import pytest

from chalicelib.core.errors import InvalidRequest
from chalicelib.triggers.slack import Usage, one_name, parse, two_args, up_spec

CIDRS = ["10.1.0.0/16", "10.2.0.0/16"]


def test_up_with_every_option() -> None:
    spec = up_spec(["demo", "workers=4", "notebook=yes", "ttl=8h", "cidr=10.1.0.0/16",
                    "cidr=10.2.0.0/16"])
    assert (spec.name, spec.workers, spec.notebook, spec.ttl_hours, spec.teardown) == (
        "demo", 4, True, 8, "nightly")
    assert spec.allowed_cidrs == CIDRS


def test_up_defaults_and_the_other_spellings() -> None:
    spec = up_spec(["demo", "ttl=12", "notebook=OFF"])
    assert (spec.workers, spec.notebook, spec.ttl_hours) == (2, False, 12)
    assert spec.allowed_cidrs == []  # no CIDR unless the command names one
    assert up_spec(["keeper", "teardown=never"]).teardown == "never"


@pytest.mark.parametrize(("args", "message"), [
    ([], "give a cluster name"),
    (["demo", "gpu"], "'gpu': options are key=value"),
    (["demo", "workers=many"], "workers: a whole number"),
    (["demo", "workers=-1"], "workers: a whole number"),
    (["demo", "ttl=forever"], "ttl: a whole number"),
    (["demo", "ttl=1000h"], "ttl: a whole number, at most 3"),
    (["demo", "notebook=maybe"], "'notebook=maybe' is not a valid option"),
    (["demo", "teardown=weekly"], "'teardown=weekly' is not a valid option"),
    (["demo", "colour=red"], "'colour=red' is not a valid option"),
    (["demo", "teardown=never", "ttl=2h"], "ttl_hours cannot be combined"),
    (["Bad_Name"], "name: String should match"),
    (["demo", "ttl=0h"], "ttl_hours: Input should be greater than or equal to 1"),
    (["demo", "cidr=10.1.0.0/33"], "is not a CIDR block"),
])
def test_up_refuses_with_the_usage(args: list[str], message: str) -> None:
    with pytest.raises(Usage, match=message):
        up_spec(args)


def test_one_name() -> None:
    assert one_name(["demo"]) == "demo"
    for args in ([], ["a1", "b1"]):
        with pytest.raises(Usage, match="give exactly one cluster name"):
            one_name(args)
    with pytest.raises(InvalidRequest, match="name: must match") as refused:
        one_name(["Bad_Name"])
    assert not isinstance(refused.value, Usage)


def test_two_args() -> None:
    assert two_args(["demo", "3"]) == ("demo", 3)
    for args in (["demo"], ["demo", "3", "4"]):
        with pytest.raises(Usage, match="a cluster name and a number of workers"):
            two_args(args)
    for args in (["demo", "lots"], ["demo", "-1"], ["demo", "03"]):
        with pytest.raises(Usage, match="workers: a whole number"):
            two_args(args)


def test_parse_takes_the_first_value_of_each_field_and_keeps_blanks() -> None:
    assert parse(b"command=%2Fdask&text=up+demo&text=ignored&token=") == {
        "command": "/dask", "text": "up demo", "token": ""}


@pytest.mark.parametrize("body", [b"\xff\xfe", b"just-words", b"a=1&&b"])
def test_parse_refuses_what_is_not_a_form(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match="not a form-encoded Slack command"):
        parse(body)
