"""Fenced code blocks of README.md and dcemu/docs/*.md, for the tests that execute them (issue 19.4).

A block is executed unless the line just before its opening fence is ``<!-- illustrative -->`` (a fragment
shown for reading, such as a file format excerpt or a sketch of output).  Keep such exceptions few.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "dcemu" / "docs").glob("*.md"))]
ILLUSTRATIVE = "<!-- illustrative -->"
_FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int           # 1-based line of the opening fence
    lang: str
    text: str
    illustrative: bool
    heading: str        # the nearest heading above the block

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of one Markdown file, in order."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    heading, i = "", 0
    while i < len(lines):
        if lines[i].startswith("#"):
            heading = lines[i].lstrip("#").strip()
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        marker = lines[start - 1].strip() if start else ""
        found.append(Block(path, start + 1, opening.group(1), "\n".join(lines[start + 1:i]) + "\n",
                           marker == ILLUSTRATIVE, heading))
        i += 1
    return found


def all_blocks() -> list[Block]:
    return [b for path in DOCS for b in blocks(path)]


def readme_quick_start() -> str:
    """The README's main job: the first sh block under "Quick start"."""
    for b in blocks(ROOT / "README.md"):
        if b.heading.lower() == "quick start" and b.lang == "sh":
            return b.text.strip()
    raise AssertionError("README.md has no sh block under 'Quick start'")
