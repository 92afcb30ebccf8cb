"""`atlas-mcp serve --transport http` as a subprocess: refusing an unsafe bind, and a SIGTERM
in the middle of waits, driven by the SDK's HTTP client in both protocol eras."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from anyio.abc import Process
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from atlas_mcp_py.jobs import Ledger
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer

pytestmark = pytest.mark.anyio

TOKEN = "e2e-team-token-9876543210"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(state_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(state_dir.parent),
        "ATLAS_MCP_STATE_DIR": str(state_dir),
        "ATLAS_MCP_POLL_MIN": "0.1",
        "ATLAS_MCP_POLL_MAX": "0.1",
        "ATLAS_MCP_HEARTBEAT": "0.3",
    }
    env.update(extra)
    return env


def serve_command(*flags: str) -> list[str]:
    return [sys.executable, "-m", "atlas_mcp_py", "serve", "--transport", "http", *flags]


async def test_a_public_bind_without_a_token_refuses_to_start_and_says_how_to_fix_it(
    tmp_path: Path,
) -> None:
    port = free_port()
    with anyio.fail_after(30):
        done = await anyio.run_process(
            serve_command("--host", "0.0.0.0", "--port", str(port)),
            env=server_env(tmp_path / "state"),
            check=False,
        )
    stderr = done.stderr.decode()
    assert done.returncode == 2
    assert "Refusing to serve HTTP on 0.0.0.0 without a token" in stderr
    assert "ATLAS_MCP_HTTP_TOKEN" in stderr and "--host 127.0.0.1" in stderr
    assert "Traceback" not in stderr
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass  # nothing listens


async def wait_until_healthy(base: str, process: Process) -> None:
    async with httpx2.AsyncClient() as http:
        with anyio.fail_after(30):
            while True:
                assert process.returncode is None, "the server exited during startup"
                try:
                    if (await http.get(f"{base}/healthz")).status_code == 200:
                        return
                except httpx2.TransportError:
                    await anyio.sleep(0.05)


async def test_sigterm_mid_wait_hands_every_job_back_records_it_and_exits_0(
    slow_sim: SimulatorServer, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    state_dir = tmp_path / "state"
    env = server_env(
        state_dir,
        ATLASCLOUD_API_KEY=SIMULATOR_API_KEY,
        ATLASCLOUD_BASE_URL=slow_sim.base_url,
        ATLAS_MCP_HTTP_TOKEN=TOKEN,
    )
    results: dict[str, CallToolResult] = {}
    progressed = {mode: anyio.Event() for mode in ("auto", "legacy")}

    async def generate(mode: str) -> None:
        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            progressed[mode].set()

        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client,
        ):
            await client.list_tools()  # cached: no re-list after the server is gone
            results[mode] = await client.call_tool(
                "atlas_generate_video", {"prompt": f"a {mode} kite"}, progress_callback=on_progress
            )

    process = await anyio.open_process(
        serve_command("--port", str(port)), env=env, stdout=None, stderr=None
    )
    try:
        await wait_until_healthy(base, process)
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for mode in progressed:
                    tg.start_soon(generate, mode)
                for event in progressed.values():
                    await event.wait()
                signalled = time.monotonic()
                process.send_signal(signal.SIGTERM)
            returncode = await process.wait()
        took = time.monotonic() - signalled
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert returncode == 0
    assert took < 5, f"exit took {took:.1f}s"
    jobs = {job.id for job in slow_sim.state.jobs()}
    assert len(jobs) == 2
    with Ledger.open(Ledger.default_path(state_dir)) as ledger:
        for mode, result in results.items():
            data = result.structured_content
            assert not result.is_error and data is not None, mode
            assert data["status"] == "processing" and data["prediction_id"] in jobs, mode
            text = " ".join(getattr(block, "text", "") for block in result.content)
            assert "atlas_check_status" in text, mode
            record = ledger.get(data["prediction_id"])
            assert record is not None, f"{mode}: the job is not in the ledger"
            assert record.state == "processing"
