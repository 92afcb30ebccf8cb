"""langchain-mcp-adapters' tools make both videos: `MultiServerMCPClient.get_tools()`, each
tool called with `ainvoke` as a LangChain agent calls it, default settings."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any

from agent_common import VIDEOS, Script, argv, emit
from langchain_mcp_adapters.client import MultiServerMCPClient


def connection(transport: str, target: dict[str, Any]) -> dict[str, Any]:
    if transport == "stdio":
        return {"transport": "stdio", **target}
    headers = {"Authorization": f"Bearer {target['token']}"}
    return {"transport": "streamable_http", "url": target["url"], "headers": headers}


async def main() -> None:
    transport, target = argv()
    client = MultiServerMCPClient({"atlas": connection(transport, target)})
    tools = {tool.name: tool for tool in await client.get_tools()}
    scripts = []
    for video in VIDEOS:
        script = Script(video)
        call = script.next_call(None)
        while call is not None:
            call = script.next_call(await tools[call[0]].ainvoke(call[1]))
        scripts.append(script)
    emit("langchain-mcp-adapters", version("langchain-mcp-adapters"), scripts, mcp=version("mcp"))


asyncio.run(main())
