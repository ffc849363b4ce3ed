"""The state machine pictures in docs/architecture.md (deploy/diagrams.py): they are
what the checked-in ASL draws, and every transition of the ASL is an edge of its
picture. Pure: no emulator."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from deploy import asl, diagrams

EDGE = re.compile(r"^\s*(\S+) --> (\S+)(?: : (.*))?$")


def asl_edges(scope: dict[str, Any]) -> set[tuple[str, str]]:
    """Every transition of `scope` and its Parallel branches, read from the ASL alone;
    "[*]" is a scope's start or end, as Mermaid draws it."""
    out = {("[*]", scope["StartAt"])}
    for name, state in scope["States"].items():
        nexts = [state.get("Next"), state.get("Default"),
                 *(c["Next"] for c in state.get("Choices", [])),
                 *(c["Next"] for c in state.get("Catch", []))]
        out |= {(name, n) for n in nexts if n}
        if state.get("End") or state["Type"] == "Fail":
            out.add((name, "[*]"))
        for branch in state.get("Branches", []):
            out |= asl_edges(branch)
    return out


def drawn_edges(mermaid: str) -> set[tuple[str, str]]:
    return {(m[1], m[2]) for line in mermaid.splitlines() if (m := EDGE.match(line))}


@pytest.mark.parametrize("name", list(diagrams.MACHINES))
def test_every_transition_of_the_asl_is_an_edge_of_its_picture_and_no_other(name: str) -> None:
    machine = json.loads(asl.raw(name))
    picture = diagrams.mermaid(machine)
    assert drawn_edges(picture) == asl_edges(machine)
    parallels = [s for s in machine["States"].values() if s["Type"] == "Parallel"]
    assert picture.count(" {\n") == len(parallels)
    assert picture.count("--\n") == sum(len(p["Branches"]) - 1 for p in parallels)


def test_callbacks_and_catches_are_drawn_as_such() -> None:
    picture = diagrams.mermaid(json.loads(asl.raw("create_cluster")))
    assert "class PrepareImages,WaitForScheduler callback" in picture
    assert "WaitForScheduler : WaitForScheduler (callback, waits for its task token up to " \
           "600 s)" in picture
    assert "Foundation --> RecordFailure : catch States.ALL" in picture
    assert "state RollBackOrStop <<choice>>" in picture


def test_the_architecture_page_holds_the_pictures_of_the_checked_in_asl() -> None:
    text = diagrams.DOC.read_text()
    assert diagrams.rewrite(text) == text, "stale diagrams: run python -m deploy.diagrams"


def test_check_fails_when_the_asl_changes_under_the_pictures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "architecture.md"
    shutil.copy(diagrams.DOC, doc)
    monkeypatch.setattr(diagrams, "DOC", doc)
    asl_dir = tmp_path / "stepfunctions"
    shutil.copytree(asl.ASL_DIR, asl_dir)
    monkeypatch.setattr(asl, "ASL_DIR", asl_dir)
    assert diagrams.main(["--check"]) == 0
    create = asl_dir / "create_cluster.asl.json"
    create.write_text(create.read_text().replace('"Next": "PublishEndpoints"',
                                                 '"Next": "RecordFailure"'))
    assert diagrams.main(["--check"]) == 1
    assert "stale state machine diagrams" in capsys.readouterr().err
    assert diagrams.main([]) == 0  # rewriting brings the page back in line
    assert "AwaitSchedulerStartWorkers --> RecordFailure\n" in doc.read_text()
    assert diagrams.main(["--check"]) == 0
