"""The CLI's commands as the server serves them: which, with which parameters, by whom.

`GET /v1/commands` publishes this manifest; the thin client builds its command line from
it, so the commands a person types are the server's, and a new Typer command is served
without a second definition.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import typer.main

# Commands that need the database owner's credentials, the keys or the flow clock run on the
# server host only, and why; login, logout and whoami are the client's own.
LOCAL_ONLY: dict[tuple[str, ...], str] = {
    ("init",): "create or upgrade the schema and the keys",
    ("server",): "set up and run the governance server",
    ("serve",): "run the serving gateway",
    ("audit", "checkpoint"): "sign the chain head with the signing key",
    ("audit", "keygen"): "make the signing key",
    # Reads the master key and writes subkeys: served, it would hand them to a caller.
    ("keys",): "derive purpose key files from the secret key",
    # --at moves the flow clock of the process that runs the audit; the nightly run is
    # scheduled on the workers.
    ("audit-retirement",): "run the retirement audit on demand, as of a chosen time",
    # Needs no server: anyone holding a pack and the public key checks it where it is.
    ("compliance", "verify"): "check a pack offline with the public key, where the pack is",
    ("login",): "",
    ("logout",): "",
}
# Roster roles a command needs before it runs; the services check their own roles again.
ROLE_OF: dict[tuple[str, ...], str] = {
    ("people", "enroll"): "admin",
    ("people", "grant"): "admin",
    ("people", "revoke-role"): "admin",
    ("people", "revoke-sessions"): "admin",
    ("people", "unlock"): "admin",
    ("clients",): "admin",
    ("audit",): "auditor",
    # A pack exports the version's slice of the whole trail, signed: the auditor's.
    ("compliance", "pack"): "auditor",
}
# Parameters that name who acts: the server fills them with the token's person, whatever the
# body says, and the manifest does not offer them.
ACTOR_PARAMS = frozenset({"approver"})
# Path parameters that name a file the command writes rather than reads.
OUTPUT_PARAMS = frozenset({"out"})


def role_for(path: tuple[str, ...]) -> str | None:
    """The roster role a command requires on the server, by its longest listed prefix."""
    for end in range(len(path), 0, -1):
        role = ROLE_OF.get(path[:end])
        if role:
            return role
    return None


def is_local_only(path: tuple[str, ...]) -> bool:
    """True for a command that runs on the server host only."""
    return any(path[:end] in LOCAL_ONLY for end in range(1, len(path) + 1))


def commands(app: typer.Typer) -> dict[tuple[str, ...], Any]:
    """Every leaf command of the Typer app by its path, local-only ones included."""
    found: dict[tuple[str, ...], Any] = {}

    def walk(group: Any, prefix: tuple[str, ...]) -> None:
        for name, command in sorted(group.commands.items()):
            path = (*prefix, name)
            if hasattr(command, "commands"):
                walk(command, path)
            else:
                found[path] = command

    walk(typer.main.get_command(app), ())
    return found


def groups(app: typer.Typer) -> dict[str, str]:
    """The top-level groups and their one-line help."""
    root = typer.main.get_command(app)
    return {
        name: (command.help or "").strip().splitlines()[0] if command.help else ""
        for name, command in root.commands.items()
        if hasattr(command, "commands")
    }


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The scalar type behind Optional[...] and list[...], and whether it is a list."""
    multiple = False
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
        elif origin in (list, tuple) and args:
            annotation, multiple = args[0], True
        else:
            return annotation, multiple


def _kind(scalar: Any) -> tuple[str, list[str] | None]:
    if isinstance(scalar, type) and issubclass(scalar, Enum):
        return "choice", [member.value for member in scalar]
    for kind, python in (
        ("bool", bool),
        ("int", int),
        ("float", float),
        ("path", Path),
        ("datetime", datetime),
    ):
        if scalar is python:
            return kind, None
    return "text", None


def _default(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_default(v) for v in value]
    return str(value)


def describe_param(param: Any) -> dict[str, Any]:
    """One parameter as the thin client needs it to parse a command line."""
    scalar, multiple = _unwrap(param.type_descriptor.annotation)
    kind, choices = _kind(scalar)
    is_option = param.param_type_name == "option"
    return {
        "name": param.name,
        "kind": "option" if is_option else "argument",
        "opts": list(param.opts),
        "secondary_opts": list(param.secondary_opts),
        "type": kind,
        "choices": choices,
        "multiple": multiple or bool(param.multiple),
        "required": bool(param.required),
        "flag": bool(getattr(param, "is_flag", False)),
        "default": _default(param.default),
        "help": param.help or "",
        # A file the command writes: the client receives it and writes it locally.
        "output": kind == "path" and param.name in OUTPUT_PARAMS,
    }


def describe(path: tuple[str, ...], command: Any) -> dict[str, Any]:
    """One served command: its path, help, required role and parameters."""
    return {
        "path": list(path),
        "help": (command.help or "").strip(),
        "role": role_for(path),
        "params": [
            describe_param(p)
            for p in command.params
            if p.name not in ACTOR_PARAMS and getattr(p, "expose_value", True)
        ],
    }


def manifest(app: typer.Typer) -> dict[str, Any]:
    """Every command the server serves, and the groups they sit in."""
    served = [
        describe(path, command)
        for path, command in commands(app).items()
        if not is_local_only(path)
    ]
    host = [{"path": list(path), "why": why} for path, why in LOCAL_ONLY.items() if why]
    return {"groups": groups(app), "commands": served, "host_only": host}
