"""`atlas-mcp serve --transport http` as a subprocess: a remote client's roots never grant
access to the server's disk. The client declares the `roots` capability on a 2025
connection and offers `file:///`; only ATLAS_MCP_ROOTS counts, and without it every local
path is refused with the fix."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from helpers import PNG, free_port, text_of, wait_until_answering
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, ListRootsResult, Root

from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer

pytestmark = pytest.mark.anyio

TOKEN = "e2e-files-token-0123456789"


@asynccontextmanager
async def http_server(sim: SimulatorServer, cwd: Path, **env: str) -> AsyncIterator[str]:
    """The server on a free loopback port, started in `cwd`; yields its /mcp URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cwd.parent / "home"),
        "ATLAS_MCP_STATE_DIR": str(cwd.parent / "state"),
        "ATLASCLOUD_API_KEY": SIMULATOR_API_KEY,
        "ATLASCLOUD_BASE_URL": sim.base_url,
        "ATLAS_MCP_HTTP_TOKEN": TOKEN,
        "ATLAS_MCP_POLL_MIN": "0.05",
        "ATLAS_MCP_POLL_MAX": "0.1",
        **env,
    }
    command = [sys.executable, "-m", "atlas_mcp_py", "serve", "--transport", "http"]
    process = await anyio.open_process(
        [*command, "--port", str(port)], env=environment, cwd=cwd, stdout=None, stderr=None
    )
    try:
        await wait_until_answering(f"{base}/healthz", process)
        yield f"{base}/mcp"
    finally:
        process.terminate()
        with anyio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


async def call_all(url: str, steps: list[tuple[str, dict[str, Any]]]) -> tuple[list[Any], int]:
    """Each (tool, arguments) on one 2025 connection whose client offers `file:///` as its
    root; (the results, how often the server asked for the client's roots)."""
    asked: list[int] = []

    async def list_roots(context: ClientRequestContext) -> ListRootsResult:
        asked.append(1)
        return ListRootsResult(roots=[Root(uri="file:///", name="everything")])

    results: list[CallToolResult] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
        Client(
            streamable_http_client(url, http_client=http),
            mode="legacy",
            list_roots_callback=list_roots,
        ) as client,
    ):
        for tool, arguments in steps:
            with anyio.fail_after(30):
                results.append(await client.call_tool(tool, arguments))
    return results, len(asked)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("cwd", "project", "elsewhere", "home"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "photo.png").write_bytes(PNG)
    return tmp_path


async def test_without_atlas_mcp_roots_the_http_server_touches_no_local_file(
    sim: SimulatorServer, tree: Path
) -> None:
    async with http_server(sim, tree / "cwd") as url:
        results, asked = await call_all(
            url,
            [
                ("atlas_upload_media", {"path": "photo.png"}),
                ("atlas_upload_media", {"path": str(tree / "elsewhere" / "photo.png")}),
                ("atlas_generate_video", {"prompt": "a fox", "image": "photo.png"}),
                ("atlas_generate_video", {"prompt": "a fox", "save_to": "fox.mp4"}),
            ],
        )
    for result in results:
        text = text_of(result)
        assert result.is_error and "Nothing was sent" in text, text
        assert "set ATLAS_MCP_ROOTS on the server" in text, text
    assert asked == 0
    assert sim.state.count("upload") == sim.state.count("generate") == 0
    assert not (tree / "cwd" / "fox.mp4").exists()


async def test_over_http_only_atlas_mcp_roots_grants_access(
    sim: SimulatorServer, tree: Path
) -> None:
    async with http_server(sim, tree / "cwd", ATLAS_MCP_ROOTS=str(tree / "project")) as url:
        (inside, outside, in_cwd), asked = await call_all(
            url,
            [
                ("atlas_upload_media", {"path": "photo.png"}),
                ("atlas_upload_media", {"path": str(tree / "elsewhere" / "photo.png")}),
                ("atlas_upload_media", {"path": str(tree / "cwd" / "photo.png")}),
            ],
        )
    assert not inside.is_error, text_of(inside)
    for result in (outside, in_cwd):
        assert result.is_error and "outside the allowed roots" in text_of(result)
    assert asked == 0
    assert sim.state.count("upload") == 1
