"""`atlas-mcp doctor`: is this installation ready for an IDE, and if not, what to do.

Each check prints one plain line, `OK`, `WARN` or `FAIL`, and a fix under every problem:
the installed `mcp` SDK, the configuration, the API key (set or not; never printed, not
even in part), the API reachable, the key accepted (the account balance, read from
`/public/v1/balance`, which costs nothing, and printed), the allowed roots, the job
ledger's directory. Then the ready-to-paste client config for this machine, with a
command that keeps working for the way atlas-mcp was installed (`launch.py`: uvx, pipx,
a venv...) and a placeholder where the key goes. Exit code 0 when nothing failed, 1
otherwise.

The checks go through `Settings` and `AtlasClient`, as the server does: what passes here
passes for the server started with the same environment.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import anyio

from atlas_mcp_py import __version__
from atlas_mcp_py.atlas import BALANCE_PATH, AtlasClient, one_line
from atlas_mcp_py.config import DEFAULT_BASE_URL, Settings
from atlas_mcp_py.errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    AtlasError,
    AuthenticationError,
    ConfigError,
    LedgerError,
    WrongBaseURLError,
)
from atlas_mcp_py.jobs import open_ledger, shown_location
from atlas_mcp_py.launch import Launch, detect_launch, installed_script

__all__ = [
    "KEY_PLACEHOLDER",
    "Check",
    "client_config",
    "config_launch",
    "run_checks",
    "run_doctor",
    "server_command",
]

Status = Literal["OK", "WARN", "FAIL"]
KEY_PLACEHOLDER = "your-atlas-api-key"
"""What the printed config holds where the key goes (the real key is never printed)."""
MCP_REQUIREMENT = (2, 3), (3, 0)
"""The `mcp` versions this server works with: >=2.3, <3."""
KEY_HELP = (
    "get a key in the Atlas Cloud console (https://www.atlascloud.ai, API keys) and set "
    "ATLASCLOUD_API_KEY in the `env` block of your MCP client's config (for this command: "
    "export ATLASCLOUD_API_KEY=...), then restart the server"
)
# Enough to tell "reachable" from "not", without the server's long retry budget.
_DOCTOR_LIMITS: dict[str, Any] = {
    "max_retries": 0,
    "connect_timeout": 5.0,
    "read_timeout": 20.0,
    "request_deadline": 25.0,
}


@dataclass(frozen=True)
class Check:
    """The outcome of one check: its name, OK/WARN/FAIL, what was found, what to do."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def server_command() -> tuple[str, list[str]]:
    """How to start this installation's server right now: (command, args).

    The `atlas-mcp` script of this interpreter's installation, else `python -m
    atlas_mcp_py` with this interpreter. Never a lookup on PATH, which may find another
    installation. For a config that must keep working, see `config_launch` (a uvx
    environment in uv's cache works now but may be gone tomorrow).
    """
    script = installed_script(Path(sys.prefix), Path(sys.executable))
    if script is not None:
        return str(script), []
    return sys.executable, ["-m", "atlas_mcp_py"]


def config_launch(env: Mapping[str, str] | None = None) -> Launch:
    """How this copy was started and the command a client config should run."""
    return detect_launch(env=os.environ if env is None else env)


def client_config(env: Mapping[str, str]) -> dict[str, Any]:
    """The `mcpServers` block for this machine. Secrets are placeholders; non-secret
    settings found in `env` (base URL, roots, wait budget) are carried over."""
    launch = config_launch(env)
    server_env = {"ATLASCLOUD_API_KEY": KEY_PLACEHOLDER}
    base_url = (env.get("ATLASCLOUD_BASE_URL") or "").strip()
    if base_url and base_url.rstrip("/") != DEFAULT_BASE_URL:
        server_env["ATLASCLOUD_BASE_URL"] = base_url
    for name in ("ATLAS_MCP_ROOTS", "ATLAS_MCP_MAX_WAIT", "ATLAS_MCP_STATE_DIR"):
        if (env.get(name) or "").strip():
            server_env[name] = env[name].strip()
    entry = {"command": launch.command, "args": list(launch.args), "env": server_env}
    return {"mcpServers": {"atlas": entry}}


async def run_checks(
    env: Mapping[str, str], on_check: Callable[[Check], None] | None = None
) -> list[Check]:
    """Every check, in order (`on_check` sees each as it ends). The API checks use the
    server's settings with a short time limit and no retries."""
    checks: list[Check] = []

    def done(check: Check) -> None:
        checks.append(check)
        if on_check is not None:
            on_check(check)

    done(_check_mcp())
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        done(
            Check(
                "configuration",
                "FAIL",
                str(exc),
                "correct the variable it names (see the configuration table in README.md)",
            )
        )
        return checks
    done(_check_key(settings))
    reach, accepted = await _check_api(settings.model_copy(update=_DOCTOR_LIMITS))
    done(reach)
    done(accepted)
    done(_check_roots(settings))
    done(_check_state_dir(settings))
    return checks


def _check_mcp() -> Check:
    try:
        version = metadata.version("mcp")
    except metadata.PackageNotFoundError:
        return Check("mcp SDK", "FAIL", "not installed", "pip install 'mcp>=2.3,<3'")
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    low, high = MCP_REQUIREMENT
    if not low <= parts < high:
        return Check(
            "mcp SDK",
            "FAIL",
            f"{version} installed; this server needs >=2.3,<3",
            "pip install 'mcp>=2.3,<3' in the environment atlas-mcp runs from",
        )
    return Check("mcp SDK", "OK", f"{version} installed (needs >=2.3,<3)")


def _check_key(settings: Settings) -> Check:
    if settings.api_key is None:
        return Check("API key", "FAIL", "ATLASCLOUD_API_KEY is not set", KEY_HELP)
    key = settings.api_key.get_secret_value()
    if key[:1] in "\"'" or key[-1:] in "\"'":
        return Check(
            "API key",
            "WARN",
            "ATLASCLOUD_API_KEY is set (not shown) but starts or ends with a quote mark",
            "remove the quotes: in a JSON config they are already part of the syntax",
        )
    return Check("API key", "OK", "ATLASCLOUD_API_KEY is set (not shown)")


async def _check_api(settings: Settings) -> tuple[Check, Check]:
    """(API reachable, key accepted): the catalog (no key needed), then the account
    balance (needs the key; free)."""
    url = settings.base_url
    async with AtlasClient(settings) as client:
        try:
            models = await client.list_models(include_hidden=True)
        except AtlasError as exc:
            reach = _unreachable(url, exc)
            return reach, Check("API key accepted", "WARN", "not checked: the API is unreachable")
        reach = Check("Atlas API", "OK", f"{url} answered ({len(models)} models in the catalog)")
        if settings.api_key is None:
            return reach, Check("API key accepted", "WARN", "not checked: no key is set")
        try:
            balance = await client.balance()
        except WrongBaseURLError as exc:
            return reach, Check(
                "API key accepted",
                "FAIL",
                f"{BALANCE_PATH} answered 401 under {url} ({exc.message})",
                _BASE_FIX,
            )
        except AuthenticationError as exc:
            return reach, Check(
                "API key accepted",
                "FAIL",
                f"Atlas refused the key ({exc.status}: {exc.message})",
                "copy the key again from the Atlas Cloud console (API keys) into "
                "ATLASCLOUD_API_KEY, with no quotes or spaces, then restart the server",
            )
        except APIConnectionError as exc:
            return reach, Check(
                "API key accepted", "FAIL", f"the check could not reach {url}: {exc}", _NET_FIX
            )
        except APIStatusError as exc:
            return reach, Check(
                "API key accepted",
                "WARN",
                f"could not confirm: the balance answered {exc.status}: {exc.message}",
                "if generating then fails with a key error, create a new key in the console",
            )
        except APIResponseError:
            return reach, Check(
                "API key accepted", "OK", "the key was accepted (the balance answer was odd)"
            )
    low = " (top up before generating: https://www.atlascloud.ai, billing)"
    return reach, Check(
        "API key accepted",
        "OK" if balance.available > 0 else "WARN",
        f"the key works; balance {balance.text()} available"
        + (low if balance.available <= 0 else ""),
    )


_BASE_FIX = (
    f"set ATLASCLOUD_BASE_URL to the API root, {DEFAULT_BASE_URL} (without /api/v1), or unset it"
)
_NET_FIX = (
    "check the network and ATLASCLOUD_BASE_URL; behind a proxy, set HTTPS_PROXY "
    "(NO_PROXY for hosts to reach directly)"
)


def _unreachable(url: str, exc: AtlasError) -> Check:
    if isinstance(exc, APIConnectionError):
        return Check("Atlas API", "FAIL", f"could not reach {url}: {exc}", _NET_FIX)
    if isinstance(exc, WrongBaseURLError):
        detail = (
            f"{url} answered 401 to the model catalog, which needs no key: Atlas's gateway "
            "says 401 to a path it does not know, so the base URL is wrong"
        )
    elif isinstance(exc, APIStatusError):
        detail = f"{url} answered {exc.status}: {exc.message}"
    else:
        detail = f"{url} answered, but not like the Atlas API ({exc})"
    return Check("Atlas API", "FAIL", detail, _BASE_FIX)


def _check_roots(settings: Settings) -> Check:
    if not settings.roots:
        return Check(
            "allowed roots",
            "OK",
            "ATLAS_MCP_ROOTS is not set: over stdio the server uses the folders your MCP "
            "client offers, else the directory it was started in (never / or your home "
            "directory itself); over HTTP it touches no local file",
        )
    missing = [str(r) for r in settings.roots if not r.is_dir()]
    listed = os.pathsep.join(str(r) for r in settings.roots)
    if missing:
        return Check(
            "allowed roots",
            "FAIL",
            f"ATLAS_MCP_ROOTS={listed}: not an existing directory: {', '.join(missing)}",
            "create the directories or correct ATLAS_MCP_ROOTS "
            f"({os.pathsep!r}-separated absolute paths)",
        )
    return Check("allowed roots", "OK", f"ATLAS_MCP_ROOTS={listed} (all exist)")


def _check_state_dir(settings: Settings) -> Check:
    location = settings.ledger_location
    path = shown_location(location)
    try:
        ledger = open_ledger(location)
        try:
            jobs = ledger.count()
        finally:
            ledger.close()
    except LedgerError as exc:
        return Check(
            "job ledger",
            "FAIL",
            f"cannot use {path}: {exc}",
            "set ATLAS_MCP_STATE_DIR to a directory you can write, or move a damaged "
            "jobs.sqlite3 aside (it is never overwritten)",
        )
    return Check("job ledger", "OK", f"{path} is writable ({jobs} jobs recorded)")


def run_doctor(emit: Callable[[str], None], env: Mapping[str, str] | None = None) -> int:
    """Report every check and the client config through `emit` (one line per call, as
    each check ends); 0 when no check failed, else 1."""
    env = os.environ if env is None else env
    emit(f"atlas-mcp {__version__} on Python {platform.python_version()} ({sys.executable})")
    emit("")

    def show(check: Check) -> None:
        # details quote Atlas (messages, currency): one line each, no terminal controls
        emit(f"{check.status:<5} {check.name}: {one_line(check.detail, 2000)}")
        if check.fix and check.status != "OK":
            emit(f"      fix: {one_line(check.fix, 2000)}")

    checks = anyio.run(run_checks, env, show)
    launch = config_launch(env)
    emit("")
    emit(f"Installation: {launch.summary}.")
    emit("Client config for this machine (Cursor ~/.cursor/mcp.json, Claude Desktop, any")
    emit('"mcpServers" file; VS Code: the same entry under "servers"); put your key in it:')
    emit(json.dumps(client_config(env), indent=2))
    emit("")
    emit("Claude Code:")
    line = shlex.join([launch.command, *launch.args])
    emit(f"  claude mcp add atlas --env ATLASCLOUD_API_KEY={KEY_PLACEHOLDER} -- {line}")
    found = shutil.which(launch.command, path=env.get("PATH"))
    if not os.path.isabs(launch.command) and found:
        emit(f'Claude Desktop does not read your PATH: there, use "command": "{found}".')
    emit("")
    failed = [c.name for c in checks if c.status == "FAIL"]
    if failed:
        emit(f"{len(failed)} check(s) failed ({', '.join(failed)}): see the fix under each.")
        return 1
    emit("All required checks passed.")
    return 0
