"""The smoke run (deploy/smoke.py, `make smoke`) against local mode's served API, with
real scheduler and worker processes: every step passes and is printed with its time."""

from __future__ import annotations

import pytest

from daskyard.local.deploy import STAGE
from daskyard.local.stack import LocalMode
from deploy import smoke


@pytest.mark.e2e
def test_the_smoke_run_passes_against_local_mode(live: LocalMode,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = smoke.main(["--api", str(live.api_url), "--stage", STAGE, "--name", "smoky",
                       "--cidr", "127.0.0.0/8", "--timeout", "120"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    lines = out.out.splitlines()
    assert lines[0] == f"smoke: stage {STAGE} at {live.api_url}, cluster smoky"
    for number, name in enumerate(("create", "compute", "destroy", "leftovers"), 1):
        [line] = [line for line in lines if line.split()[:2] == [str(number), name]]
        assert line.split()[3] == "s" and float(line.split()[2]) >= 0, line
    assert "sum of 100 squares = 328350 on 1 worker(s)" in out.out
    assert lines[-1].startswith("smoke: passed in ")
    assert not live.leftovers("smoky")


@pytest.mark.e2e
def test_a_failed_step_is_printed_and_exits_1_with_the_cluster_destroyed(
        live: LocalMode, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong(*args: object, **kwargs: object) -> tuple[int, int]:
        return 41, 1

    monkeypatch.setattr(smoke, "compute", wrong)
    code = smoke.main(["--api", str(live.api_url), "--stage", STAGE, "--name", "wrong",
                       "--cidr", "127.0.0.0/8", "--timeout", "120"])
    out = capsys.readouterr()
    assert code == 1
    assert "2 compute    FAILED after" in out.out and "came back as 41" in out.out
    assert [line for line in out.out.splitlines() if line.split()[:2] == ["3", "destroy"]]
    assert "smoke: FAILED: SmokeFailed" in out.err
    assert not live.leftovers("wrong")
