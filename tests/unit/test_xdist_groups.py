"""`--dist loadgroup` keeps the tests of an `xdist_group` on one worker: the suite's hook
(tests/conftest.py) puts the group where pytest 9 reads a node id, and xdist's scheduler
then makes the group one work unit (each other test stays a unit of its own)."""

from __future__ import annotations

import pytest
from xdist.scheduler.loadgroup import LoadGroupScheduling

from tests.conftest import _xdist_groups

pytest_plugins = ["pytester"]

MODULE = """
import pytest

@pytest.mark.xdist_group("package")
def test_a():
    pass

@pytest.mark.xdist_group(name="package")
@pytest.mark.parametrize("n", ["x@y", 2])
def test_b(n):
    pass

def test_c():
    pass
"""


def scope(nodeid: str) -> str:
    """The work unit xdist's loadgroup scheduler puts a test in (from its node id only)."""
    return str(LoadGroupScheduling._split_scope(None, nodeid))  # type: ignore[arg-type]


def test_an_xdist_group_is_one_work_unit_and_other_tests_are_their_own(
        pytester: pytest.Pytester) -> None:
    items = pytester.getitems(MODULE)
    ungrouped = items[-1].nodeid
    _xdist_groups(items)
    _xdist_groups(items)  # a second pass adds nothing
    assert [item.nodeid.rsplit("::", 1)[1] for item in items] == [
        "test_a@package", "test_b[x@y]@package", "test_b[2]@package", "test_c"]
    assert [scope(item.nodeid) for item in items] == ["package"] * 3 + [ungrouped]
