"""Tests marked `reads_only` share one clean world (tests/conftest.py `stack`): the one
after a reads_only test finds the world it left, with no reset; a reads_only test that
changed it fails, and the next test gets a reset. Run as a suite of its own, in its own
process (one local mode per process), with the suite's fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]

SUITE = """
import pytest

from tests.support.clusters import spec

RESETS = []


@pytest.fixture(scope="session", autouse=True)
def counted(local_mode):
    reset = local_mode.reset
    local_mode.reset = lambda *args, **kw: (RESETS.append(1), reset(*args, **kw))
    yield


@pytest.mark.reads_only
def test_first(stack):
    assert len(RESETS) == 1


@pytest.mark.reads_only
def test_second_finds_the_world_the_first_left(stack, rt):
    assert len(RESETS) == 1 and rt.registry.list() == []


@pytest.mark.reads_only
def test_a_change(stack, rt):
    rt.registry.create(spec("sneaky"), "test", [], "")


@pytest.mark.reads_only
def test_after_a_change_a_reset(stack, rt):
    assert len(RESETS) == 2 and rt.registry.list() == []


def test_unmarked_resets(stack):
    assert len(RESETS) == 3
"""


def test_reads_only_tests_share_a_clean_world_and_one_that_changes_it_fails(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest("from tests.conftest import *  # noqa: F403\n")
    pytester.makeini("[pytest]\nmarkers =\n    reads_only: as the suite's\n")
    pytester.makepyfile(test_world=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly",
                                           timeout=240)
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_a_change*",
                                 "*test_a_change is marked reads_only but changed the world*"])
