"""What every command needs: the opened governance instance, the clock and the consoles."""

from __future__ import annotations

import getpass
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from governance.bootstrap import Governance, open_governance
from governance.domain.errors import ConfigError, IdentityError, NotInRoster
from governance.domain.identity import VerifiedActor
from governance.services.trust import identity
from governance.services.trust.identity import SessionTicket

# Piped output (CI logs, the demo) gets a wide fixed width instead of rich's 80 columns.
HEX = frozenset("0123456789abcdef")
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


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


# Everything a command opened, closed by `close_opened` when the command ends.
_OPENED: list[Governance] = []
# Set while the governance server runs a command for a caller: the server's own Governance
# and the person its bearer token names. The actor then never comes from a session file,
# an argument or the OS user.
_SERVED: ContextVar[tuple[Governance, VerifiedActor] | None] = ContextVar("served", default=None)


@contextmanager
def served(gov: Governance, actor: VerifiedActor) -> Iterator[None]:
    """Run the commands inside as `actor`, on the server's `gov` (the server's door)."""
    token = _SERVED.set((gov, actor))
    try:
        yield
    finally:
        _SERVED.reset(token)


# Flow runs a served command would have waited for: the server answers at once and the
# client follows each run itself, so no server thread is held while people decide.
_FOLLOW: ContextVar[list[dict[str, str]] | None] = ContextVar("follow", default=None)


@contextmanager
def following() -> Iterator[list[dict[str, str]]]:
    """Collect the flow runs the commands inside hand to the client to wait for."""
    runs: list[dict[str, str]] = []
    token = _FOLLOW.set(runs)
    try:
        yield runs
    finally:
        _FOLLOW.reset(token)


def handed_to_client(run_id: object, label: str, success: str) -> bool:
    """On the server, record a run for the client to wait for and return True; else False."""
    runs = _FOLLOW.get()
    if runs is None:
        return False
    runs.append({"flow_run_id": str(run_id), "label": label, "success": success})
    return True


def serving_actor() -> VerifiedActor | None:
    """The token's person when the server runs this command, else None."""
    bound = _SERVED.get()
    return bound[1] if bound else None


def governance() -> Governance:
    """Open the configured store; errors surface as one line through the CLI's error handler."""
    bound = _SERVED.get()
    if bound is not None:
        return bound[0]
    gov = open_governance()
    _OPENED.append(gov)
    return gov


def close_opened() -> None:
    """Release the database connections of every store a command opened."""
    while _OPENED:
        _OPENED.pop().close()


def session_token(path: Path) -> str | None:
    """The token in the session file, or None when there is no (readable) session file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    token = data.get("token") if isinstance(data, dict) else None
    return token if isinstance(token, str) and token else None


def prepare_session_dir(path: Path) -> Path:
    """Create the session file's directory (0700), or ConfigError naming why it cannot be."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:
        raise ConfigError(
            f"session file {path}: cannot write ({path.parent} is not a directory)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"session file {path}: cannot write ({exc.strerror})") from None
    return path


def save_session(path: Path, ticket: SessionTicket) -> None:
    """Write the session file atomically, readable by its owner only (mode 0600)."""
    path = prepare_session_dir(path)
    try:
        # mkstemp makes the file 0600: the token is never readable by others, not even briefly.
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".session-")
    except OSError as exc:
        raise ConfigError(f"session file {path}: cannot write ({exc.strerror})") from None
    replaced = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(ticket.model_dump_json())
        os.replace(temp, path)
        replaced = True
    finally:
        if not replaced:  # never leave a half-written token file behind
            Path(temp).unlink(missing_ok=True)


def clear_session(path: Path) -> bool:
    """Delete the session file; True if there was one."""
    try:
        Path(path).unlink()
    except FileNotFoundError:
        return False
    return True


def current_actor(gov: Governance) -> VerifiedActor:
    """The person of the live CLI session; NotLoggedIn saying how to log in when there is none."""
    bound = serving_actor()
    if bound is not None:
        return bound
    token = session_token(gov.settings.resolved_session_file)
    return identity.session_actor(gov, token, now=now())


def acting_name(gov: Governance) -> str:
    """Who performs an unverified administrative act: the session's person, else cli:<OS user>."""
    bound = serving_actor()
    if bound is not None:
        return bound.name
    try:
        return current_actor(gov).name
    except (IdentityError, NotInRoster):
        pass
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        # A container user with no passwd entry and no USER/LOGNAME variable.
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"cli:{user}"
