"""What every command needs: the opened governance instance, the clock and the consoles."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from rich.console import Console

from governance.bootstrap import Governance, open_governance

# Piped output (CI logs, the demo) gets a wide fixed width instead of rich's 80 columns.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def now() -> datetime:
    """The CLI is one of the two places allowed to read the clock."""
    return datetime.now(UTC)


def governance() -> Governance:
    """Open the configured store; errors surface as one line through the CLI's error handler."""
    return open_governance()
