"""fastmcp's `Client` (2.x, or the current major) makes both videos, and its typed
`result.data`, built from the tools' output schemas, carries every field: the jobs of
atlas_list_jobs and the dry run's request body (bare objects in a schema came back empty)."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any

from agent_common import VIDEOS, Script, argv, emit
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport


def client(transport: str, target: dict[str, Any]) -> Client[Any]:
    if transport == "stdio":
        return Client(
            StdioTransport(target["command"], target["args"], env=target["env"], cwd=target["cwd"])
        )
    headers = {"Authorization": f"Bearer {target['token']}"}
    return Client(StreamableHttpTransport(target["url"], headers=headers))


def seen(result: Any) -> dict[str, Any]:
    texts = [getattr(block, "text", "") for block in result.content]
    return {"text": " ".join(texts), "data": result.structured_content}


async def main() -> None:
    transport, target = argv()
    scripts, checks = [], []
    async with client(transport, target) as session:
        for video in VIDEOS:
            script = Script(video)
            call, last = script.next_call(None), None
            while call is not None:
                last = seen(await session.call_tool(*call))
                call = script.next_call(last)
            scripts.append(script)
        first = (await session.call_tool("atlas_list_jobs", {})).data.jobs[0]
        listed = bool(getattr(first, "prediction_id", None))
        done = getattr(first, "status", None) == "completed"
        checks.append({"name": "data.jobs[0]", "ok": listed and done, "seen": repr(first)[:300]})
        dry_run = {"prompt": "a kite", "dry_run": True}
        request = (await session.call_tool("atlas_generate_video", dry_run)).data.request
        shown = bool(getattr(request, "model", None)) and getattr(request, "prompt", "") == "a kite"
        checks.append({"name": "data.request", "ok": shown, "seen": repr(request)[:300]})
    emit("fastmcp Client", version("fastmcp"), scripts, checks=checks, mcp=version("mcp"))


asyncio.run(main())
