"""What every command needs: the opened governance instance, the clock and the consoles."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from governance.bootstrap import Governance, open_governance

# Piped output (CI logs, the demo) gets a wide fixed width instead of rich's 80 columns.
HEX = frozenset("0123456789abcdef")
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def brief(details: dict[str, Any], width: int = 110) -> str:
    """Audit details on one short line: digests cut to 12 characters, nested values summarised."""
    parts = []
    for key, value in sorted(details.items()):
        if isinstance(value, str) and len(value) == 64 and all(c in HEX for c in value):
            value = value[:12]
        elif isinstance(value, dict | list):
            value = f"{{{len(value)} items}}" if isinstance(value, dict) else f"[{len(value)}]"
        parts.append(f"{key}={value}")
    text = " ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


def now() -> datetime:
    """The CLI is one of the two places allowed to read the clock."""
    return datetime.now(UTC)


def governance() -> Governance:
    """Open the configured store; errors surface as one line through the CLI's error handler."""
    return open_governance()
