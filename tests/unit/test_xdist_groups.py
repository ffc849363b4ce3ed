"""`--dist loadgroup` keeps the tests of an `xdist_group` on one worker: the suite's hook
(tests/conftest.py) puts the group where pytest 9 reads a node id, and xdist's scheduler
then makes the group one work unit (each other test stays a unit of its own). A module's
`reads_only` tests are one group; the units go out longest first, by the last run's
durations in pytest's cache when it knows them."""

from __future__ import annotations

import pytest
from xdist.scheduler.loadgroup import LoadGroupScheduling

from tests.conftest import DURATIONS, LONG_FIRST, _xdist_groups, pytest_collection_modifyitems

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


READS = """
import pytest

@pytest.mark.reads_only
@pytest.mark.parametrize("n", [1, 2])
def test_refused(n):
    pass

def test_made():
    pass

@pytest.mark.reads_only
def test_listed():
    pass
"""


def test_a_modules_reads_only_tests_are_one_work_unit(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    reads_only: as the suite's\n")
    items = pytester.getitems(READS)
    _xdist_groups(items)
    module = items[0].nodeid.split("::")[0]
    assert [scope(item.nodeid) for item in items] == \
        [f"reads_only-{module}"] * 2 + [items[2].nodeid, f"reads_only-{module}"]


def test_the_longest_unit_of_the_last_run_goes_first(pytester: pytest.Pytester) -> None:
    items = pytester.getitems(MODULE)
    config = items[0].config
    assert config.cache is not None
    names = [item.nodeid.rsplit("::", 1)[1] for item in items]
    # No durations known: collection order (nothing here is in LONG_FIRST).
    assert not any(item.nodeid.startswith(LONG_FIRST) for item in items)
    pytest_collection_modifyitems(config, items)
    assert [item.nodeid.rsplit("::", 1)[1] for item in items] == names
    # The package group took 3 s in all, test_c 5 s: test_c goes first, the group
    # after it whole (its tests keep their order); as under xdist, by grouped node ids.
    grouped, alone = [f"{item.nodeid}@package" for item in items[:3]], items[3].nodeid
    config.cache.set(DURATIONS, {**dict.fromkeys(grouped, 1.0), alone: 5.0})
    pytest_collection_modifyitems(config, items)
    assert [item.nodeid.rsplit("::", 1)[1] for item in items] == [names[3], *names[:3]]
    config.cache.set(DURATIONS, {**dict.fromkeys(grouped, 2.0), alone: 5.0})
    pytest_collection_modifyitems(config, items)
    assert [item.nodeid.rsplit("::", 1)[1] for item in items] == names
