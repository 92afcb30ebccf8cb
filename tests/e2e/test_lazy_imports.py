"""The stdio server starts without what only a tool call needs: `jsonschema` (argument
validation, first used by a generate call) costs some 30-80 ms of every start;
bench/startup.py measures the start itself. (`httpcore2`, the HTTP transport's, is
imported as the server starts, ~16 ms, and the transport built in a background thread,
so the first tool call does not wait for them: bench/first_call.py.)

The server runs as an IDE runs it, under `python -X importtime`, which writes one line
per imported module to stderr; the second test shows those lines do catch the module
once a tool has used it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="starts the server through /bin/sh"),
]

DEFERRED = {"jsonschema"}


async def imports_of_a_served_session(
    sim: SimulatorServer, tmp_path: Path, calls: list[tuple[str, dict[str, Any]]]
) -> set[str]:
    """Every module the server imported during a session: handshake, tools/list, `calls`."""
    log = tmp_path / "importtime.txt"
    command = f'exec "{sys.executable}" -X importtime -m atlas_mcp_py 2>"{log}"'
    env = {
        "ATLASCLOUD_API_KEY": SIMULATOR_API_KEY,
        "ATLASCLOUD_BASE_URL": sim.base_url,
        "ATLAS_MCP_ROOTS": str(tmp_path),
        "ATLAS_MCP_STATE_DIR": str(tmp_path / "state"),
    }
    params = StdioServerParameters(command="/bin/sh", args=["-c", command], env=env)
    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            assert (await client.list_tools()).tools
            for name, arguments in calls:
                result = await client.call_tool(name, arguments)
                assert not result.is_error, result.content
    return {
        line.rsplit("|", 1)[1].strip()
        for line in log.read_text().splitlines()
        if line.startswith("import time:") and "|" in line
    }


async def test_starting_and_listing_tools_does_not_import_jsonschema(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    imported = await imports_of_a_served_session(sim, tmp_path, [])
    assert "atlas_mcp_py.server.app" in imported
    assert not DEFERRED & imported


async def test_the_first_call_that_needs_it_imports_it(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    calls = [
        ("atlas_list_models", {}),
        ("atlas_generate_video", {"prompt": "a red fox in snow", "dry_run": True}),
    ]
    imported = await imports_of_a_served_session(sim, tmp_path, calls)
    assert imported >= DEFERRED
