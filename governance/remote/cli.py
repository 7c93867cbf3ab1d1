"""The thin client's command line: the server's commands, plus login, logout and whoami."""

from __future__ import annotations

import base64
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import click

from governance.remote import settings
from governance.remote.http import Refused, Server
from governance.remote.settings import ClientError

POLL_SECONDS = 1.0
_TYPES = {"int": click.INT, "float": click.FLOAT, "bool": click.BOOL}


def _param(spec: dict[str, Any]) -> click.Parameter:
    kind = click.Choice(spec["choices"]) if spec["type"] == "choice" else _TYPES.get(spec["type"])
    if spec["kind"] == "argument":
        return click.Argument(
            [spec["name"]],
            type=kind,
            required=spec["required"],
            nargs=-1 if spec["multiple"] else 1,
        )
    decls = list(spec["opts"])
    if spec["flag"] and spec["secondary_opts"]:
        decls = [f"{spec['opts'][0]}/{spec['secondary_opts'][0]}"]
    return click.Option(
        [*decls, spec["name"]],
        type=None if spec["flag"] else kind,
        is_flag=spec["flag"],
        multiple=spec["multiple"],
        required=spec["required"],
        default=spec["default"] if spec["default"] not in ("", None) or spec["flag"] else None,
        help=spec["help"],
    )


def _served(spec: dict[str, Any]) -> click.Command:
    path = spec["path"]

    def invoke(**values: Any) -> None:
        raise SystemExit(_run_served(spec, values))

    return click.Command(
        path[-1],
        params=[_param(p) for p in spec["params"]],
        callback=invoke,
        help=spec["help"] + (f"\n\nNeeds the role {spec['role']}." if spec["role"] else ""),
    )


def _files(server: Server, spec: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Replace local file paths by uploads (or, for outputs, by the file name to send back)."""
    body: dict[str, Any] = {}
    for param in spec["params"]:
        value = values.get(param["name"])
        if value in (None, (), []):
            continue
        if param["type"] != "path":
            body[param["name"]] = list(value) if isinstance(value, tuple) else value
            continue
        many = value if isinstance(value, list | tuple) else [value]
        refs = [_file_ref(server, param, Path(v)) for v in many]
        body[param["name"]] = refs if param["multiple"] else refs[0]
    return body


def _file_ref(server: Server, param: dict[str, Any], path: Path) -> dict[str, str]:
    if param.get("output"):
        # Refused before the server acts: a pack built there and thrown away here would
        # still be recorded as built.
        if path.is_dir() and any(path.iterdir()):
            raise ClientError(f"{path} exists and is not an empty directory: nothing written")
        return {"output": str(path)}
    if path.is_dir():
        raise ClientError(f"{path} is a directory: pass its files one by one")
    return server.upload(path)


def _run_served(spec: dict[str, Any], values: dict[str, Any]) -> int:
    url = _url()
    server = Server(url, _token(url))
    body = _files(server, spec, values)
    answer = server.call("POST", "/v1/commands/" + "/".join(spec["path"]), body=body)
    sys.stdout.write(answer.get("output", ""))
    sys.stdout.flush()
    for name, sent in (answer.get("files") or {}).items():
        target = Path(values[name])
        try:
            if "directory_b64" in sent:
                _write_directory(target, sent["directory_b64"])
            else:
                target.write_bytes(base64.b64decode(sent["content_b64"]))
        except OSError as exc:
            raise ClientError(f"cannot write {target}: {exc.strerror}") from None
    code = int(answer.get("exit_code") or 0)
    for run in answer.get("follow") or []:
        code = max(code, _follow(server, run))
    return code


def _write_directory(target: Path, files: dict[str, str]) -> None:
    """Write a directory the server sent (a compliance pack): new or empty, flat, by name."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ClientError(f"{target} exists and is not an empty directory: nothing written")
    for name in files:
        if Path(name).name != name or name in ("", ".", ".."):
            raise ClientError(f"the server sent a file named {name!r}: nothing written")
    target.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (target / name).write_bytes(base64.b64decode(data))


def _follow(server: Server, run: dict[str, str]) -> int:
    """Wait for a flow run the command started, as the local CLI's --wait does."""
    while True:
        state = server.call("GET", f"/v1/flow-runs/{run['flow_run_id']}")
        if state.get("final"):
            message = f": {state['message']}" if state.get("message") else ""
            print(f"{run['label']}: {state['state']}{message}", flush=True)
            return 0 if state["state"] == run["success"] else 1
        time.sleep(POLL_SECONDS)


def _url() -> str:
    url = settings.server_url()
    if not url:
        raise ClientError(
            "no governance server: set GOVERNANCE_SERVER_URL or `governance config set server URL`"
        )
    return url


def _token(url: str) -> str:
    session = settings.session_for(url)
    if session is None:
        raise ClientError(f"not logged in to {url}: run `governance login NAME --code CODE`")
    return session["token"]


@click.command("login")
@click.argument("name")
@click.option("--code", default=None, help="the one-time code from your authenticator")
@click.option("--hours", type=float, default=8, help="how long the session lasts")
def login(name: str, code: str | None, hours: float) -> None:
    """Open a session on the server as NAME with a one-time code."""
    url = _url()
    previous = settings.session_for(url)
    ticket = Server(url).call(
        "POST", "/v1/sessions", body={"name": name, "code": code, "hours": hours}
    )
    settings.save_session(url, ticket)
    if previous:  # the replaced session would otherwise stay live until it expires
        with contextlib.suppress(Refused):
            Server(url, previous["token"]).call("DELETE", "/v1/sessions/current")
    note = " (identities not verified)" if ticket.get("identity") == "none" else ""
    print(f"logged in as {ticket['person']} on {url} until {_shown(ticket['expires_at'])}{note}")


@click.command("logout")
def logout() -> None:
    """End the session on the server and forget its token."""
    url = _url()
    session = settings.session_for(url)
    if session is None:
        settings.clear_session()
        print("not logged in")
        return
    try:
        ended = Server(url, session["token"]).call("DELETE", "/v1/sessions/current")["ended"]
    except Refused:
        ended = None
    finally:
        settings.clear_session()
    print(f"logged out {ended}" if ended else "the session had already ended")


@click.command("whoami")
def whoami() -> None:
    """Who you are on the server, with which roles, and until when."""
    url = _url()
    me = Server(url, _token(url)).call("GET", "/v1/whoami")
    roles = ", ".join(me["roles"]) or "no roles"
    until = f" until {_shown(me['expires_at'])}" if me.get("expires_at") else ""
    print(f"{me['name']} ({roles}) on {url}{until}")


@click.group("config")
def config() -> None:
    """This client's settings (the server's URL)."""


@config.command("set")
@click.argument("key", type=click.Choice(["server"]))
@click.argument("value")
def config_set(key: str, value: str) -> None:
    """Set the governance server's URL for this user."""
    settings.set_server(value)
    print(f"server: {settings.server_url()} (in {settings.config_file()})")


@config.command("unset")
@click.argument("key", type=click.Choice(["server"]))
def config_unset(key: str) -> None:
    """Forget the server's URL (commands then run on this host, with its database)."""
    settings.set_server(None)
    print(f"server unset (in {settings.config_file()})")


@config.command("show")
def config_show() -> None:
    """Show the server's URL and where it comes from."""
    url = settings.server_url()
    print(f"server: {url or '(none: commands run on this host)'}")


def _shown(iso: str) -> str:
    return iso.replace("T", " ")[:16] + " UTC"


def _host_only(path: list[str], what: str) -> click.Command:
    def refuse(**_: Any) -> None:
        raise ClientError(
            f"`governance {' '.join(path)}` runs on the server host only ({what}): there, "
            "leave GOVERNANCE_SERVER_URL unset"
        )

    # Any arguments are accepted: the refusal, not a usage error, is the answer.
    return click.Command(
        path[-1],
        callback=refuse,
        help=f"Server host only: {what}.",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def build(manifest: dict[str, Any]) -> click.Group:
    """The command tree: the server's commands by their paths, plus the client's own."""
    root = click.Group(
        "governance",
        help="Model governance, through the governance server at $GOVERNANCE_SERVER_URL.",
    )
    for command in (login, logout, whoami, config):
        root.add_command(command)
    for spec in manifest["commands"]:
        _parent(root, spec["path"], manifest["groups"]).add_command(_served(spec))
    for host in manifest.get("host_only", []):
        _parent(root, host["path"], manifest["groups"]).add_command(
            _host_only(host["path"], host["why"])
        )
    return root


def _parent(root: click.Group, path: list[str], helps: dict[str, str]) -> click.Group:
    group = root
    for part in path[:-1]:
        group = group.commands.get(part) or _group(group, part, helps)
    return group


def _group(parent: click.Group, name: str, helps: dict[str, str]) -> click.Group:
    group = click.Group(name, help=helps.get(name, ""))
    parent.add_command(group)
    return group


def run(argv: list[str]) -> int:
    """Run the thin client on argv; one line on stderr and exit 1 on any refusal."""
    try:
        if argv[:1] == ["config"]:
            root = build({"groups": {}, "commands": []})
        else:
            root = build(Server(_url()).call("GET", "/v1/commands"))
        root.main(args=argv, prog_name="governance", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except click.exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        return 130
    return 0
