"""The floor under the concurrency bench's CPU figure: a trivial MCP server on the same
SDK, whose one tool does what a generate call does with the network and the SDK and
nothing else: it sleeps out the job, sends the same number of progress notifications and
makes the same number of HTTP requests (httpx2, to the simulator), then returns.

    python -m bench.sdk_floor        # serves MCP over stdio (started by bench.concurrency)

`FLOOR_HTTP_URL` is the URL its requests fetch. Its `models` tool, one GET of that URL, is
the anchor of bench.first_call.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import anyio
import httpx2
from mcp.server.mcpserver import Context, MCPServer


def build() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("sdk-floor")
    url = os.environ["FLOOR_HTTP_URL"]
    http = httpx2.AsyncClient(trust_env=False)

    @server.tool()
    async def job(seconds: float, notifications: int, requests: int, ctx: Context[Any]) -> str:
        """Sleep `seconds`, sending `notifications` progress notes and `requests` GETs."""
        steps = max(1, notifications, requests)
        for step in range(steps):
            await anyio.sleep(seconds / steps)
            if step < requests:
                (await http.get(url)).raise_for_status()
            if step < notifications:
                await ctx.report_progress(step + 1, None, f"floor · {step + 1}")
        return "done"

    @server.tool()
    async def models() -> str:
        """One GET of the URL (the simulator's model list): bench.first_call's anchor."""
        answer = await http.get(url)
        answer.raise_for_status()
        return answer.text

    return server


if __name__ == "__main__":
    server = build()
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # a line per request is noise
    server.run()
