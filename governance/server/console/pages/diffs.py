"""Unified diffs as lines a template colours: (kind, text), kind one of '+', '-', ' ', '@'."""

from __future__ import annotations


def diff_lines(text: str) -> list[tuple[str, str]]:
    """Classify each line of a unified diff; file headers and hunk headers are '@'."""
    lines = []
    for line in text.splitlines():
        if line.startswith(("+++", "---", "@@")):
            lines.append(("@", line))
        elif line[:1] in ("+", "-"):
            lines.append((line[:1], line))
        else:
            lines.append((" ", line))
    return lines
