"""`atlas-mcp serve --transport http` as a subprocess: refusing an unsafe bind, and a SIGTERM
in the middle of waits, driven by the SDK's HTTP client in both protocol eras."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from helpers import free_port, wait_until_answering
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, Fault, SimulatorServer

pytestmark = pytest.mark.anyio

TOKEN = "e2e-team-token-9876543210"


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


STOP_RUNS = 3
"""Runs of the SIGTERM test: each one used to lose at least the slow POST's answer."""


async def test_sigterm_mid_wait_and_mid_post_answers_every_call_records_every_id_and_exits_0(
    slow_sim: SimulatorServer, tmp_path: Path
) -> None:
    """Waiting calls in both eras and a generate whose POST Atlas answers only after the
    signal: every one gets its hand-off, every id is in the ledger, in every run."""
    for run in range(STOP_RUNS):
        slow_sim.state.reset()
        await stop_mid_calls(slow_sim, tmp_path / f"run{run}")


async def stop_mid_calls(sim: SimulatorServer, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    state_dir = tmp_path / "state"
    env = server_env(
        state_dir,
        ATLASCLOUD_API_KEY=SIMULATOR_API_KEY,
        ATLASCLOUD_BASE_URL=sim.base_url,
        ATLAS_MCP_HTTP_TOKEN=TOKEN,
    )
    results: dict[str, CallToolResult] = {}
    progressed = {mode: anyio.Event() for mode in ("auto", "legacy")}

    async def generate(mode: str, name: str, on_progress: Any = None) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client,
        ):
            await client.list_tools()  # cached: no re-list after the server is gone
            results[name] = await client.call_tool(
                "atlas_generate_video", {"prompt": f"a {name} kite"}, progress_callback=on_progress
            )

    def waiting(mode: str) -> Any:
        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            progressed[mode].set()

        return on_progress

    process = await anyio.open_process(
        serve_command("--port", str(port)), env=env, stdout=None, stderr=None
    )
    try:
        await wait_until_answering(f"{base}/healthz", process)
        with anyio.fail_after(40):
            async with anyio.create_task_group() as tg:
                for mode in progressed:
                    tg.start_soon(generate, mode, mode, waiting(mode))
                for event in progressed.values():
                    await event.wait()
                # Atlas creates the third job at once but answers its POST 2 s later
                sim.state.add_fault(Fault(endpoint="generate", kind="slow", delay=2.0))
                tg.start_soon(generate, "auto", "slow")
                while len(sim.state.jobs()) < 3:  # noqa: ASYNC110
                    await anyio.sleep(0.02)
                process.send_signal(signal.SIGTERM)
            returncode = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert returncode == 0
    jobs = {job.id for job in sim.state.jobs()}
    assert len(jobs) == 3
    with Ledger.open(Ledger.default_path(state_dir)) as ledger:
        for name, result in results.items():
            data = result.structured_content
            assert not result.is_error and data is not None, name
            assert data["status"] == "processing" and data["prediction_id"] in jobs, name
            text = " ".join(getattr(block, "text", "") for block in result.content)
            assert "atlas_check_status" in text, name
            record = ledger.get(data["prediction_id"])
            assert record is not None, f"{name}: the job is not in the ledger"
            assert record.state == "processing"
    assert set(results) == {"auto", "legacy", "slow"}
