"""mcp-use's agent path makes both videos: an `MCPClient` from its config dictionary, and
the LangChain tools its `LangChainAdapter` builds for `MCPAgent`, each called as the agent
calls it (`ainvoke` with what the model gave: the adapter's argument model sends `null`
for every optional argument left out). Default settings; telemetry off by environment."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any

from agent_common import VIDEOS, Script, argv, emit
from mcp_use import MCPClient
from mcp_use.agents.adapters.langchain_adapter import LangChainAdapter


def config(transport: str, target: dict[str, Any]) -> dict[str, Any]:
    if transport == "stdio":  # mcp-use has no `cwd`: the server's root is ATLAS_MCP_ROOTS
        server = {"command": target["command"], "args": target["args"], "env": target["env"]}
    else:
        headers = {"Authorization": f"Bearer {target['token']}"}
        server = {"url": target["url"], "headers": headers}
    return {"mcpServers": {"atlas": server}}


async def main() -> None:
    transport, target = argv()
    client = MCPClient.from_dict(config(transport, target))
    try:
        tools = {tool.name: tool for tool in await LangChainAdapter().create_tools(client)}
        scripts = []
        for video in VIDEOS:
            script = Script(video)
            call = script.next_call(None)
            while call is not None:
                call = script.next_call(await tools[call[0]].ainvoke(call[1]))
            scripts.append(script)
    finally:
        await client.close_all_sessions()
    emit("mcp-use", version("mcp-use"), scripts, mcp=version("mcp"))


asyncio.run(main())
