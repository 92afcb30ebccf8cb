"""A video generated through the Python MCP SDK 1.x client (run by tests/e2e/test_real_clients.py
in its own virtual environment, where `mcp` is 1.x).

    python py1_client.py stdio '<json: command, args, env, cwd>' '<json: tool arguments>'
    python py1_client.py http  '<json: url, token>'               '<json: tool arguments>'

Prints one JSON object: the negotiated version, the tool names, the call's result (as the
SDK parsed it) and the progress it reported.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from importlib.metadata import version
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client


async def session_run(read: Any, write: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    progress: list[list[Any]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append([value, total, message])

    async with ClientSession(read, write) as session:
        opened = await session.initialize()
        tools = await session.list_tools()
        result = await session.call_tool(
            "atlas_generate_video",
            arguments,
            read_timeout_seconds=timedelta(seconds=120),
            progress_callback=on_progress,
        )
    return {
        "sdk": version("mcp"),
        "protocolVersion": opened.protocolVersion,
        "tools": [tool.name for tool in tools.tools],
        "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
        "progress": progress,
    }


async def main(transport: str, target: dict[str, Any], arguments: dict[str, Any]) -> None:
    if transport == "stdio":
        params = StdioServerParameters(**target)
        async with stdio_client(params) as (read, write):
            out = await session_run(read, write, arguments)
    else:
        headers = {"Authorization": f"Bearer {target['token']}"}
        async with streamablehttp_client(target["url"], headers=headers) as (read, write, _):
            out = await session_run(read, write, arguments)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]))
