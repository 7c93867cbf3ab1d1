"""Running one served command for the token's person: argv from the body, output captured."""

from __future__ import annotations

import base64
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from typer._click import exceptions as click_errors

from governance.bootstrap import Governance
from governance.cli.context import following, served
from governance.domain.errors import InvalidInput
from governance.domain.identity import VerifiedActor
from governance.server.blobs import BlobStore
from governance.server.capture import captured
from governance.server.errors import BadParameters, Forbidden, UnknownCommand
from governance.server.manifest import ACTOR_PARAMS, describe_param, is_local_only, role_for

# The largest output file a command may hand back inline (a card, an export).
MAX_OUTPUT_FILE_BYTES = 64 * 1024 * 1024


@dataclass
class CommandResult:
    """What a served command printed, returned, wrote, and left for the client to follow."""

    exit_code: int
    output: str
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    follow: list[dict[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def require_role(gov: Governance, actor: VerifiedActor, path: tuple[str, ...]) -> None:
    """Forbidden naming the role, unless the actor holds the role the command requires."""
    role = role_for(path)
    if role and role not in gov.policy.roster.get(actor.name, ()):
        raise Forbidden(
            f"{actor.name} does not hold the role {role}: `governance {' '.join(path)}` refused"
        )


def _scalar(value: Any, spec: dict[str, Any]) -> str:
    if isinstance(value, bool | int | float | str):
        return str(value)
    raise BadParameters(f"parameter {spec['name']}: expected a {spec['type']}, got {value!r}")


class _Files:
    """Uploads materialised for one command, and the output files it may write."""

    def __init__(self, blobs: BlobStore, workdir: Path) -> None:
        self.blobs, self.workdir = blobs, workdir
        self.outputs: dict[str, Path] = {}
        # Output files' paths here, and as the client named them: the output shows the latter.
        self.shown: dict[str, str] = {}

    def path_for(self, spec: dict[str, Any], value: Any) -> str:
        name = spec["name"]
        if isinstance(value, dict) and "sha256" in value:
            named = str(value.get("name", ""))
            return str(self.blobs.materialise(value["sha256"], self._dir(name), named))
        if isinstance(value, dict) and "output" in value:
            wanted = str(value["output"])
            target = self._dir(name) / (Path(wanted).name or "output")
            self.outputs[name] = target
            self.shown[str(target)] = wanted
            return str(target)
        raise BadParameters(
            f"parameter {name}: a file is sent as {{'sha256': ..., 'name': ...}} after "
            "PUT /v1/blobs/{sha256}, or named as {'output': NAME} for a file to write"
        )

    def _dir(self, name: str) -> Path:
        directory = self.workdir / name / str(len(list((self.workdir).glob(f"{name}/*"))))
        directory.mkdir(parents=True)
        return directory

    def written(self) -> dict[str, dict[str, Any]]:
        """The output files the command wrote, base64-encoded; a directory as its files."""
        out: dict[str, dict[str, Any]] = {}
        for name, path in self.outputs.items():
            if path.is_file() and path.stat().st_size <= MAX_OUTPUT_FILE_BYTES:
                data = base64.b64encode(path.read_bytes()).decode()
                out[name] = {"name": path.name, "content_b64": data}
            elif path.is_dir():
                # A pack directory is flat: its files travel by name, and the client
                # writes them into the directory the person named.
                files = sorted(p for p in path.iterdir() if p.is_file())
                if sum(p.stat().st_size for p in files) <= MAX_OUTPUT_FILE_BYTES:
                    tree = {p.name: base64.b64encode(p.read_bytes()).decode() for p in files}
                    out[name] = {"name": path.name, "directory_b64": tree}
        return out


def build_argv(
    command: Any, body: dict[str, Any], actor: VerifiedActor, files: _Files
) -> tuple[list[str], list[str]]:
    """The command line for `body`'s parameters; also the body keys that were ignored."""
    options: list[str] = []
    positionals: list[str] = []
    known = set()
    for param in command.params:
        spec = describe_param(param)
        name = spec["name"]
        known.add(name)
        value = actor.name if name in ACTOR_PARAMS else body.get(name)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        if spec["type"] == "path":
            values = [files.path_for(spec, v) for v in values]
        if spec["kind"] == "argument":
            positionals.extend(_scalar(v, spec) for v in values)
        elif spec["flag"]:
            if not isinstance(value, bool):
                raise BadParameters(f"parameter {name}: expected true or false, got {value!r}")
            if value:
                options.append(spec["opts"][0])
            elif spec["secondary_opts"]:
                options.append(spec["secondary_opts"][0])
        else:
            options.extend(f"{spec['opts'][0]}={_scalar(v, spec)}" for v in values)
    ignored = sorted((set(body) - known) | (ACTOR_PARAMS & set(body)))
    return [*options, "--", *positionals], ignored


def run(
    gov: Governance,
    actor: VerifiedActor,
    blobs: BlobStore,
    catalogue: dict[tuple[str, ...], Any],
    path: tuple[str, ...],
    body: dict[str, Any],
) -> CommandResult:
    """Run one served command as `actor`; GovernanceErrors propagate to the HTTP layer."""
    command = catalogue.get(path)
    if command is None or is_local_only(path):
        where = " (it runs on the server host only)" if command is not None else ""
        raise UnknownCommand(f"no command `governance {' '.join(path)}` is served here{where}")
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object of the command's parameters")
    require_role(gov, actor, path)
    with tempfile.TemporaryDirectory(prefix="governance-command-") as workdir:
        files = _Files(blobs, Path(workdir))
        argv, ignored = build_argv(command, body, actor, files)
        with captured() as output, served(gov, actor), following() as follow:
            code = _invoke(command, path, argv)
        text = output.getvalue()
        for here, there in files.shown.items():
            text = text.replace(here, there)
        return CommandResult(
            exit_code=code,
            output=text,
            files=files.written(),
            follow=follow,
            ignored=ignored,
        )


def _invoke(command: Any, path: tuple[str, ...], argv: list[str]) -> int:
    """Run the Typer command on argv; usage errors become BadParameters naming the parameter."""
    try:
        result = command.main(
            args=argv, prog_name=f"governance {' '.join(path)}", standalone_mode=False
        )
    except click_errors.UsageError as exc:
        raise BadParameters(exc.format_message()) from None
    except click_errors.ClickException as exc:
        raise InvalidInput(exc.format_message()) from None
    except typer.Abort:
        raise InvalidInput("the command was aborted") from None
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    return result if isinstance(result, int) else 0
