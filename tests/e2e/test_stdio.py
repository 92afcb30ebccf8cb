"""`atlas-mcp` as a subprocess over stdio, driven the way an IDE drives it."""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import PNG, stdio_env, stdio_params
from mcp import Client

from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def sim_job_seconds() -> float:
    return 1.0


def ide_env(sim: SimulatorServer, root: Path, **extra: str) -> dict[str, str]:
    """Only what an IDE passes: its safe defaults plus the server's own variables."""
    return stdio_env(sim, root, root.parent / "state", **{"ATLAS_MCP_HEARTBEAT": "0.3", **extra})


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_ide_lists_tools_generates_with_progress_and_gets_the_url(
    sim: SimulatorServer, tmp_path: Path, mode: str
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "photo.png").write_bytes(PNG)
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    with anyio.fail_after(60):
        async with Client(stdio_params(ide_env(sim, root), root), mode=mode) as client:
            tools = await client.list_tools()
            result = await client.call_tool(
                "atlas_generate_video",
                {"prompt": "a lighthouse at dusk", "image": "photo.png"},
                progress_callback=on_progress,
            )
    assert {t.name for t in tools.tools} >= {"atlas_generate_video", "atlas_check_status"}
    assert not result.is_error
    data = result.structured_content or {}
    assert data["status"] == "completed"
    assert data["video_url"].startswith(sim.base_url)
    assert len(seen) >= 2 and all(b > a for a, b in itertools.pairwise(seen))


async def test_a_budget_shorter_than_the_job_hands_the_job_back(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    env = ide_env(sim, tmp_path, ATLAS_MCP_MAX_WAIT="0.5")
    with anyio.fail_after(60):
        async with Client(stdio_params(env, tmp_path)) as client:
            result = await client.call_tool(
                "atlas_generate_video",
                {"prompt": "a slow one [sim:seconds=30]"},
                progress_callback=_ignore,
            )
    assert not result.is_error
    data = result.structured_content or {}
    assert data["status"] == "processing"
    assert data["prediction_id"] in sim.state.predictions


async def _ignore(progress: float, total: float | None, message: str | None) -> None:
    return None


async def raw_session(
    env: dict[str, str], cwd: Path, calls: list[tuple[str, dict[str, Any]]]
) -> tuple[dict[int, dict[str, Any]], bytes, bytes]:
    """Speak JSON-RPC by hand; fail on any stdout line that is not a JSON-RPC message.

    Returns the responses by id, the raw stdout and the raw stderr.
    """
    messages: list[dict[str, Any]] = [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ]
    for number, (name, arguments) in enumerate(calls, start=1):
        messages.append(
            {
                "jsonrpc": "2.0",
                "id": number,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments},
            }
        )
    payload = "".join(json.dumps(m) + "\n" for m in messages).encode()
    responses: dict[int, dict[str, Any]] = {}
    stdout = stderr = b""
    with anyio.fail_after(60):
        process = await anyio.open_process(
            [sys.executable, "-m", "atlas_mcp_py"], env=env, cwd=str(cwd)
        )
        async with process:
            assert process.stdin and process.stdout and process.stderr
            await process.stdin.send(payload)
            buffer = b""
            while set(responses) != set(range(len(calls) + 1)):
                chunk = await process.stdout.receive()
                stdout += chunk
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                for raw in complete:
                    message = json.loads(raw)  # fails the test on any non-JSON line
                    assert message["jsonrpc"] == "2.0"
                    if "id" in message:
                        responses[message["id"]] = message
            await process.stdin.aclose()
            async for chunk in process.stderr:
                stderr += chunk
            assert await process.wait() == 0
    return responses, stdout, stderr


async def test_every_line_on_stdout_is_json_rpc_even_when_calls_fail(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    env.update(ide_env(sim, tmp_path, ATLASCLOUD_API_KEY="", ATLAS_MCP_LOG_LEVEL="DEBUG"))
    results, _, stderr = await raw_session(
        env,
        tmp_path,
        [
            ("atlas_generate_video", {"prompt": "no key set"}),
            ("atlas_upload_media", {"path": "/etc/passwd"}),
            ("atlas_check_status", {}),  # missing argument
            ("atlas_list_models", {"type": "video"}),
            ("no_such_tool", {}),
        ],
    )
    assert "ATLASCLOUD_API_KEY" in json.dumps(results[1])
    assert results[1]["result"]["isError"] is True
    assert results[2]["result"]["isError"] is True
    assert "error" in results[3] or results[3]["result"]["isError"] is True
    assert results[4]["result"].get("isError") is not True
    assert b"Traceback" not in stderr
    assert sim.state.count("generate") == 0 and sim.state.count("upload") == 0


async def test_the_api_key_never_appears_on_stdout_or_stderr_even_at_debug(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    env.update(ide_env(sim, tmp_path, ATLAS_MCP_LOG_LEVEL="DEBUG"))
    results, stdout, stderr = await raw_session(
        env,
        tmp_path,
        [
            ("atlas_list_models", {}),
            ("atlas_generate_video", {"prompt": "a kite", "wait": False}),
            ("atlas_check_status", {"prediction_id": "unknown-id"}),
        ],
    )
    assert results[2]["result"]["structuredContent"]["prediction_id"]
    assert results[3]["result"]["isError"] is True
    assert b"DEBUG" in stderr  # the debug logs were really on
    assert SIMULATOR_API_KEY.encode() not in stdout
    assert SIMULATOR_API_KEY.encode() not in stderr
