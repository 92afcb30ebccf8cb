"""The agent frameworks the tests drive (tests/e2e/test_agent_frameworks.py), installed by
the test run once per run under `.test-cache/frameworks/`, in three virtual environments
installed side by side: the frameworks on the MCP Python SDK 1.x share one, those on 2.x
another (their `mcp` pins conflict with this project's, and a venv each would multiply the
install), Google ADK the third (its pins would move the 2.x one's fastmcp back).
Each installs from its pinned list, tests/clients/frameworks-<venv>.txt (`pip freeze` of
an install of `ENVS`: no resolving, the same versions everywhere), again when it changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".test-cache" / "frameworks"
INSTALL_SECONDS = 900

ENVS: dict[str, list[str]] = {
    "mcp1": [
        "mcp>=1.20,<2",
        "pydantic-ai-slim>=1.0,<2",  # its [mcp] extra adds fastmcp-slim 3, over fastmcp 2
        "fastmcp>=2.12,<3",
        "langchain-mcp-adapters>=0.1",
        "mcp-use>=1.3",
        "smolagents[mcp]>=1.20",
        "mcpadapt>=0.1.13",
    ],
    "mcp2": [
        "pydantic-ai-slim[mcp]>=2",
        "openai-agents>=0.20",
        "fastmcp>=3",
        "llama-index-tools-mcp>=0.6",
    ],
    "adk": [
        "google-adk[mcp]>=2.13",
    ],
}
"""venv -> what its pinned list was made from. smolagents' mcpadapt works only on `mcp`
1.x. pydantic-ai 1.x's `MCPServerStdio` and `MCPServerStreamableHTTP` need only `mcp`
(its `[mcp]` extra's fastmcp-slim 3 serves `MCPToolset`, and would overwrite fastmcp 2's
files here). Google ADK installs with `mcp` 2.x (what `pip install google-adk[mcp]` gets),
whose client tells the server of a call it abandons (`notifications/cancelled`; 1.x's does
not); beside the others its OpenTelemetry pin (<= 1.44) takes fastmcp 4.2 back to 4.1."""


def _wanted(name: str) -> str:
    return (REPO / "tests" / "clients" / f"frameworks-{name}.txt").read_text()


_installing: list[tuple[str, subprocess.Popen[bytes], Path]] | None = None
"""The installs `start_installs` started: (venv name, process, its log)."""


def start_installs() -> None:
    """Starts installing every venv not already cached, side by side, in the background
    (once per run): tests/conftest.py calls it as soon as the run is known to include the
    framework tests, which it runs last, so the installs overlap the rest of the suite."""
    global _installing
    if _installing is not None or sys.platform == "win32":
        return
    _installing = []
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in ENVS:
        venv = CACHE / name
        marker = venv / "requirements.txt"
        if marker.exists() and marker.read_text() == _wanted(name):
            continue
        pins = REPO / "tests" / "clients" / f"frameworks-{name}.txt"
        script = (
            f'"{sys.executable}" -m venv --clear "{venv}" && '
            f'"{venv}/bin/python" -m pip install -q --no-deps -r "{pins}"'
        )
        log = CACHE / f"{name}-install.log"
        with log.open("wb") as out:  # a file, not a pipe: a full pipe would stall pip
            process = subprocess.Popen(["/bin/sh", "-c", script], stdout=out, stderr=out)
        _installing.append((name, process, log))


@pytest.fixture(scope="session")
def framework_pythons() -> dict[str, dict[str, str]]:
    """venv name -> the environment of a client script run in it (`python` its
    interpreter), every venv installed (`start_installs`, waited for here)."""
    start_installs()
    for name, process, log in _installing or []:
        if process.wait(timeout=INSTALL_SECONDS) != 0:
            raise RuntimeError(f"installing the {name} venv failed:\n{log.read_text()[-6000:]}")
        (CACHE / name / "requirements.txt").write_text(_wanted(name))
    base = {
        "PATH": os.environ.get("PATH", ""),
        "NO_PROXY": "127.0.0.1,localhost",
        "OPENAI_AGENTS_DISABLE_TRACING": "1",  # no trace upload: loopback traffic only
        "OPENAI_API_KEY": "sk-unused-by-scripted-models",
        "ANONYMIZED_TELEMETRY": "false",  # mcp-use's telemetry: off, no network here
        "MCP_USE_ANONYMIZED_TELEMETRY": "false",
        "HOME": str(CACHE),
    }
    return {name: {"python": str(CACHE / name / "bin" / "python"), **base} for name in ENVS}
