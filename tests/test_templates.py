"""templates/: every line fits in a reader's window (issue 10)."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LIMIT = 120  # characters, not bytes: a line must be shorter


def test_templates_lines_are_under_120_characters() -> None:
    long_lines = [
        f"{path.relative_to(TEMPLATES.parent)}:{number} ({len(line)} characters)"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if len(line.rstrip()) >= LIMIT
    ]
    assert long_lines == [], "Rewrap these template lines:\n" + "\n".join(long_lines)
