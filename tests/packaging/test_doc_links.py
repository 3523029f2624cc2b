"""Every relative link in README.md, SECURITY.md and docs/*.md leads somewhere: the file (or
directory) exists, and a #fragment names a heading of the target (GitHub's anchors). The README
stays a front door (at most 200 lines); the stray wheel stays out of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def links(path: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", path.read_text()))


def test_the_anchor_rule() -> None:
    assert anchor("7. Limits") == "7-limits"
    assert anchor("Training kernels and determinism") == "training-kernels-and-determinism"
    assert anchor("Capacity: `benchmarks/classroom.py`") == "capacity-benchmarksclassroompy"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc: Path) -> None:
    checked = 0
    for target in links(doc):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, fragment = target.partition("#")
        dest = (doc.parent / file).resolve() if file else doc
        assert dest.exists(), f"{doc.name}: {target} (no {dest})"
        assert ROOT in dest.parents or dest == ROOT, f"{doc.name}: {target} leaves the repository"
        if fragment:
            assert dest.suffix == ".md", f"{doc.name}: {target}"
            assert fragment in anchors(dest), f"{doc.name}: {target} (no such heading)"
        checked += 1
    if doc.name in ("README.md", "SECURITY.md", "guide.md", "api-tour.md"):
        assert checked, f"{doc.name} links nowhere"


def test_the_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for doc in ("docs/guide.md", "docs/api.md", "docs/api-tour.md", "docs/architecture.md",
                "docs/deployment.md", "docs/performance.md", "SECURITY.md"):
        assert f"]({doc})" in readme, doc
    assert readme.count("![") == 1  # one screenshot
    assert 'python3 -m pip install -e ".[test]" && python3 -m pytest' in readme


def test_no_stray_wheels_in_the_repository() -> None:
    assert not list(ROOT.glob("*.whl"))
