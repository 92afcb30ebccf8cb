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


@pytest.fixture(scope="session")
def framework_pythons() -> dict[str, dict[str, str]]:
    """venv name -> the environment of a client script run in it (`python` its
    interpreter), every venv installed (side by side) unless already cached."""
    running: list[tuple[list[str], subprocess.Popen[bytes], Path]] = []
    for name in ENVS:
        venv = CACHE / name
        marker = venv / "requirements.txt"
        if marker.exists() and marker.read_text() == _wanted(name):
            continue
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pins = REPO / "tests" / "clients" / f"frameworks-{name}.txt"
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps"]
        command = [*pip, "-r", str(pins)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        running.append((command, process, marker))
    for command, process, marker in running:
        out, err = process.communicate(timeout=INSTALL_SECONDS)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{out.decode()}\n{err.decode()}")
        marker.write_text(_wanted(marker.parent.name))
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
