"""The docs stand on their own: every relative link in README.md and docs/*.md resolves
to a file inside the repository (and a #fragment to a heading of it), and no tracked
file points at the design notes outside the repository. Pure: no emulator."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and ![alt](target), the target up to a space or ")"; <a href="...">.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|href=\"([^\"]+)\"")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
# The design notes the team kept beside the repository (spelled so this file is no match).
OUTSIDE = ("DESIGN" + ".md", "../" + "shared/")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, ...


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())  # a code block's brackets are not links
    return [m[1] or m[2] for m in LINK.finditer(text)]


def anchors(page: Path) -> set[str]:
    """GitHub's ids for the page's headings: lower case, punctuation dropped, spaces
    to hyphens, a repeated heading numbered."""
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", page.read_text()).splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*$", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading[1].lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(f"{slug}-{count}" if count else slug)
    return out


def broken(page: Path, root: Path = ROOT) -> list[str]:
    out = []
    for target in links(page):
        if EXTERNAL.match(target):
            continue
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.is_relative_to(root):
            out.append(f"{target}: outside the repository")
        elif not resolved.exists():
            out.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            out.append(f"{target}: no heading #{fragment} in {resolved.name}")
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves_inside_the_repository(page: Path) -> None:
    assert broken(page) == []


def test_the_readme_links_the_architecture_and_the_contract() -> None:
    targets = links(ROOT / "README.md")
    assert "docs/architecture.md" in targets and "docs/openapi.json" in targets
    assert "#troubleshooting" in targets  # and the check sees fragments


def test_the_checker_finds_a_broken_link_an_escaping_one_and_a_missing_heading(
        tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (tmp_path / "outside.md").write_text("# elsewhere\n")
    (repo / "docs" / "architecture.md").write_text("# Daskyard\n\n## Team safety\n")
    page = repo / "docs" / "probe.md"
    page.write_text("[a](missing.md) [b](../../outside.md) [c](architecture.md#nowhere) "
                    "[d](architecture.md#team-safety) [e](https://example.com/x)\n"
                    "```\n[f](not-a-link-in-code.md)\n```\n")
    assert broken(page, repo) == ["missing.md: no such file",
                                  "../../outside.md: outside the repository",
                                  "architecture.md#nowhere: no heading #nowhere in "
                                  "architecture.md"]


def test_no_tracked_file_points_at_design_notes_outside_the_repository() -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    offenders = []
    for name in filter(None, files):
        path = ROOT / name
        if not path.is_file() or path.suffix in (".png", ".zip"):
            continue
        text = path.read_text(errors="replace")
        if any(marker in text for marker in OUTSIDE):
            offenders.append(name)
    assert offenders == []
