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
        jobs = (await session.call_tool("atlas_list_jobs", {})).data
        first = jobs.jobs[0]
        checks.append({
            "name": "list_jobs data.jobs[0]",
            "ok": bool(getattr(first, "prediction_id", None)) and getattr(first, "status", None) == "completed",
            "seen": repr(first)[:300],
        })
        dry = (await session.call_tool("atlas_generate_video", {"prompt": "a kite", "dry_run": True})).data
        request = dry.request
        checks.append({
            "name": "dry run data.request",
            "ok": bool(getattr(request, "model", None)) and getattr(request, "prompt", None) == "a kite",
            "seen": repr(request)[:300],
        })
    emit("fastmcp Client", version("fastmcp"), scripts, checks=checks, mcp=version("mcp"))


asyncio.run(main())
