"""Where the thin client finds its server and keeps its session (no database, no keys)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

SERVER_ENV = "GOVERNANCE_SERVER_URL"


class ClientError(Exception):
    """A problem the client reports in one line (exit code 1)."""


def config_dir() -> Path:
    """The user's governance configuration directory."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "governance"


def config_file() -> Path:
    """The client configuration file (`governance config set server URL` writes it)."""
    return Path(os.environ.get("GOVERNANCE_CLIENT_CONFIG") or config_dir() / "client.json")


def session_file() -> Path:
    """The session file: GOVERNANCE_SESSION_FILE, else the config directory's session.json."""
    return Path(os.environ.get("GOVERNANCE_SESSION_FILE") or config_dir() / "session.json")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_private(path: Path, data: dict) -> None:
    """Write JSON atomically, readable by its owner only (mode 0600)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".governance-")
    except OSError as exc:
        raise ClientError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)


def server_url() -> str | None:
    """The governance server's URL: GOVERNANCE_SERVER_URL, else the client config file."""
    url = os.environ.get(SERVER_ENV) or _read_json(config_file()).get("server") or ""
    return url.rstrip("/") or None


def set_server(url: str | None) -> None:
    """Record (or, with None, forget) the server URL in the client config file."""
    data = _read_json(config_file())
    if url is None:
        data.pop("server", None)
    else:
        if not url.startswith(("http://", "https://")):
            raise ClientError(f"server URL {url!r} must start with http:// or https://")
        data["server"] = url.rstrip("/")
    write_private(config_file(), data)


def session_for(url: str) -> dict | None:
    """The saved session for this server, or None."""
    data = _read_json(session_file())
    if data.get("server") != url or not isinstance(data.get("token"), str):
        return None
    return data


def save_session(url: str, login: dict) -> None:
    """Keep the session token for this server (mode 0600)."""
    write_private(session_file(), {"server": url, **login})


def clear_session() -> bool:
    """Forget the saved session; True if there was one."""
    try:
        session_file().unlink()
    except FileNotFoundError:
        return False
    return True
