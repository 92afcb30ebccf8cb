"""The MCP clients of other SDKs and versions the tests drive, installed by the test run
once per run under `.test-cache/clients/`, the installs side by side: the TypeScript SDK
1.12 and newest 1.x, the MCP Tasks requester `@modelcontextprotocol/ext-tasks` with the
TypeScript client 2.x it runs over, and the MCP Inspector (npm, when node and npm are
present: skipped with the reason otherwise, failed under CI, whose .ci/run installs node),
and the Python SDK 1.x in a virtual environment of its own (newest, and 1.9.4 with the
pydantic it was released against). tests/e2e/conftest.py exposes the fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".test-cache" / "clients"
CLIENTS = REPO / "tests" / "clients"
TS_VERSIONS = {"1.12": "2025-03-26", "1": "2025-11-25"}
"""npm version range -> the protocol version that SDK negotiates with this server."""
EXT_TASKS = {"@modelcontextprotocol/ext-tasks": "0.2.2", "@modelcontextprotocol/client": "2"}
"""The official Tasks requester and the TypeScript client (2.x: the 2026-07-28 era) it needs."""
INSPECTOR = "2"
"""The MCP Inspector's major version: its CLI's `--strict` lints tool schemas."""
PY_OLD = "1.9.4"
INSTALL_SECONDS = 600


@dataclass
class RealClients:
    """What the test run installed: where each client lives and how to start it."""

    ts_sdks: dict[str, Path] = field(default_factory=dict)
    """npm range -> a directory with that @modelcontextprotocol/sdk in node_modules."""
    no_node: str | None = None
    """Why the TypeScript clients cannot run here, if they cannot."""
    ext_tasks: Path | None = None
    """A directory with @modelcontextprotocol/ext-tasks and /client in node_modules."""
    inspector: Path | None = None
    """The MCP Inspector's launcher."""
    python: dict[str, dict[str, str]] = field(default_factory=dict)
    """Python SDK 1.x: name -> its interpreter (`python`) and environment."""


def _finish(command: list[str], process: subprocess.Popen[bytes]) -> None:
    out, err = process.communicate(timeout=INSTALL_SECONDS)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out.decode()}\n{err.decode()}")


@pytest.fixture(scope="session")
def real_clients() -> RealClients:
    """Every client installed once per run, the installs side by side (most of the wait
    is the registries and unpacking, not this machine's two cores)."""
    clients = RealClients()
    commands: list[list[str]] = []
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        clients.no_node = "node and npm are not installed: the TypeScript SDK clients need them"
    else:
        for spec in TS_VERSIONS:
            target = CACHE / f"ts-sdk-{spec}"
            clients.ts_sdks[spec] = target
            if not (target / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
                target.mkdir(parents=True, exist_ok=True)
                npm_install = [npm, "install", "--prefix", str(target), "--no-audit"]
                quiet = ["--no-fund", "--no-package-lock", "--silent"]
                commands.append([*npm_install, *quiet, f"@modelcontextprotocol/sdk@{spec}"])
        ext_tasks = CACHE / f"ts-ext-tasks-{EXT_TASKS['@modelcontextprotocol/ext-tasks']}"
        clients.ext_tasks = ext_tasks
        if not (ext_tasks / "node_modules" / "@modelcontextprotocol" / "ext-tasks").is_dir():
            ext_tasks.mkdir(parents=True, exist_ok=True)
            npm_install = [npm, "install", "--prefix", str(ext_tasks), "--no-audit"]
            quiet = ["--no-fund", "--no-package-lock", "--silent"]
            packages = [f"{name}@{version}" for name, version in EXT_TASKS.items()]
            commands.append([*npm_install, *quiet, *packages])
        inspector = CACHE / f"inspector-{INSPECTOR}"
        clients.inspector = inspector / "node_modules" / ".bin" / "mcp-inspector"
        if not clients.inspector.exists():
            inspector.mkdir(parents=True, exist_ok=True)
            npm_install = [npm, "install", "--prefix", str(inspector), "--no-audit"]
            quiet = ["--no-fund", "--no-package-lock", "--silent"]
            commands.append([*npm_install, *quiet, f"@modelcontextprotocol/inspector@{INSPECTOR}"])
    venv = CACHE / "py-mcp1"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        commands.append([str(python), "-m", "pip", "install", "-q", "mcp>=1.9,<2"])
    old = CACHE / f"py-mcp-{PY_OLD}"
    if not (old / "mcp").is_dir():  # with the pydantic it was released against
        pip = [sys.executable, "-m", "pip", "install", "-q", "--target", str(old)]
        commands.append([*pip, f"mcp=={PY_OLD}", "pydantic<2.12"])
    running = [
        (command, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for command in commands
    ]
    for command, process in running:
        _finish(command, process)
    base = {"PATH": os.environ.get("PATH", ""), "NO_PROXY": "127.0.0.1,localhost"}
    clients.python = {
        "newest": {"python": str(python), **base},
        PY_OLD: {"python": str(python), "PYTHONPATH": str(old), **base},
    }
    return clients


def node_or_skip(clients: RealClients) -> None:
    """Skip without node and npm, except under CI, which must run these tests."""
    if clients.no_node:
        if os.environ.get("CI"):  # .ci/run installs them: CI must not skip these
            pytest.fail(clients.no_node)
        pytest.skip(clients.no_node)


@pytest.fixture
def ts_sdks(real_clients: RealClients) -> dict[str, Path]:
    node_or_skip(real_clients)
    return real_clients.ts_sdks


@pytest.fixture
def ext_tasks(real_clients: RealClients) -> Path:
    """The directory of the installed Tasks requester (ts_tasks_client.mjs runs it)."""
    node_or_skip(real_clients)
    assert real_clients.ext_tasks is not None
    return real_clients.ext_tasks


@pytest.fixture
def py1(real_clients: RealClients) -> dict[str, dict[str, str]]:
    return real_clients.python
