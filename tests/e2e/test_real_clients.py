"""Real MCP clients of other SDKs and versions each finish a video with progress: the
TypeScript SDK 1.12 (protocol 2025-03-26, as embedded in many agent frameworks) and the
newest 1.x, and the Python SDK 1.x (newest, and 1.9 on 2025-03-26), over stdio, and the
newest of each over streamable HTTP. Each parses every answer with its own schemas, so a
block or field its protocol version does not know fails the call as it would in an IDE.

The clients are installed by the test run, once per run, under `.test-cache/clients/`:
npm packages when node and npm are present (skipped with the reason otherwise), and a
virtual environment of its own for the Python SDK 1.x.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from helpers import PNG, free_port, wait_until_answering
from installed_clients import CLIENTS, PY_OLD, TS_VERSIONS, RealClients, node_or_skip
from wire import server_env

from atlas_mcp_py.simulator import SimulatorServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths of the installed clients"),
]

TOKEN = "real-clients-token-0123456789"


@pytest.fixture
def sim_job_seconds() -> float:
    return 1.5


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "photo.png").write_bytes(PNG)
    return root


ARGUMENTS = {"prompt": "a lighthouse at dusk", "image": "photo.png", "save_to": "out/v.mp4"}
ARGS = json.dumps(ARGUMENTS)


def stdio_target(sim: SimulatorServer, root: Path) -> dict[str, Any]:
    return {
        "command": sys.executable,
        "args": ["-m", "atlas_mcp_py"],
        "env": server_env(sim, root),
        "cwd": str(root),
    }


async def run_client(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    with anyio.fail_after(180):
        done = await anyio.run_process(command, env=env, check=False)
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    parsed: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return parsed


def assert_finished_with_progress(out: dict[str, Any], root: Path, sim: SimulatorServer) -> None:
    result = out["result"]
    assert not result.get("isError"), result
    assert "atlas_generate_video" in out["tools"]
    text = " ".join(b["text"] for b in result["content"] if b["type"] == "text")
    saved = root / "out" / "v.mp4"
    assert saved.stat().st_size > 0
    assert str(saved) in text and sim.base_url in text
    values = [p[0] for p in out["progress"]]
    assert values and values == sorted(set(values)), out["progress"]


async def http_server(sim: SimulatorServer, root: Path) -> tuple[Process, str]:
    port = free_port()
    env = server_env(sim, root, ATLAS_MCP_HTTP_TOKEN=TOKEN, HOME=str(root.parent))
    command = [sys.executable, "-m", "atlas_mcp_py", "serve", "--transport", "http"]
    process = await anyio.open_process(
        [*command, "--port", str(port)], env=env, cwd=root, stdout=None, stderr=None
    )
    base = f"http://127.0.0.1:{port}"
    await wait_until_answering(f"{base}/healthz", process, 60)
    return process, f"{base}/mcp"


@pytest.mark.parametrize("spec", list(TS_VERSIONS))
async def test_the_typescript_sdk_finishes_a_video_with_progress_over_stdio(
    ts_sdks: dict[str, Path], sim: SimulatorServer, project: Path, spec: str
) -> None:
    target = json.dumps(stdio_target(sim, project))
    node = shutil.which("node") or "node"
    out = await run_client(
        [node, str(CLIENTS / "ts_client.mjs"), str(ts_sdks[spec]), "stdio", target, ARGS]
    )
    assert out["protocolVersion"] == TS_VERSIONS[spec]
    assert_finished_with_progress(out, project, sim)


async def test_the_newest_typescript_sdk_finishes_a_video_with_progress_over_http(
    ts_sdks: dict[str, Path], sim: SimulatorServer, project: Path
) -> None:
    process, url = await http_server(sim, project)
    async with process:
        try:
            node = shutil.which("node") or "node"
            target = json.dumps({"url": url, "token": TOKEN})
            out = await run_client(
                [node, str(CLIENTS / "ts_client.mjs"), str(ts_sdks["1"]), "http", target, ARGS]
            )
        finally:
            process.terminate()
    assert out["protocolVersion"] == TS_VERSIONS["1"]
    assert_finished_with_progress(out, project, sim)


@pytest.mark.parametrize(("client", "protocol"), [("newest", "2025-11-25"), (PY_OLD, "2025-03-26")])
async def test_the_python_sdk_1_finishes_a_video_with_progress_over_stdio(
    py1: dict[str, dict[str, str]],
    sim: SimulatorServer,
    project: Path,
    client: str,
    protocol: str,
) -> None:
    env = dict(py1[client])
    python = env.pop("python")
    target = json.dumps(stdio_target(sim, project))
    out = await run_client([python, str(CLIENTS / "py1_client.py"), "stdio", target, ARGS], env)
    assert out["sdk"].startswith("1.") and (client == "newest" or out["sdk"] == PY_OLD)
    assert out["protocolVersion"] == protocol
    assert_finished_with_progress(out, project, sim)


async def test_the_newest_python_sdk_1_finishes_a_video_with_progress_over_http(
    py1: dict[str, dict[str, str]], sim: SimulatorServer, project: Path
) -> None:
    env = dict(py1["newest"])
    python = env.pop("python")
    process, url = await http_server(sim, project)
    async with process:
        try:
            target = json.dumps({"url": url, "token": TOKEN})
            out = await run_client(
                [python, str(CLIENTS / "py1_client.py"), "http", target, ARGS], env
            )
        finally:
            process.terminate()
    assert out["protocolVersion"] == "2025-11-25"
    assert_finished_with_progress(out, project, sim)


async def test_tools_list_passes_the_inspector_strict_lint_with_no_warning(
    real_clients: RealClients, sim: SimulatorServer, project: Path
) -> None:
    """The Inspector's `--strict` tool-schema portability lint (type arrays, untyped
    properties, constructs some clients' schema dialects reject): nothing to report."""
    node_or_skip(real_clients)
    assert real_clients.inspector is not None
    env = [part for k, v in server_env(sim, project).items() for part in ("-e", f"{k}={v}")]
    command = [str(real_clients.inspector), "--cli", "--strict", "--method", "tools/list"]
    with anyio.fail_after(120):
        done = await anyio.run_process(
            [*command, *env, "--cwd", str(project), sys.executable, "-m", "atlas_mcp_py"],
            check=False,
        )
    stderr = done.stderr.decode()
    findings = re.findall(r"^(?:Warning|Error): tool .*$", stderr, re.MULTILINE)
    counts = re.findall(r"(\d+) errors?, (\d+) warnings?", stderr)
    assert done.returncode == 0 and not findings, stderr
    assert all(count == ("0", "0") for count in counts), stderr
    listed = json.loads(done.stdout)
    assert {tool["name"] for tool in listed["tools"]} >= {"atlas_generate_video"}
