"""pydantic-ai's agent makes both videos: an `Agent` whose model is a `FunctionModel`
(the scripted model of agent_common.Script) and whose toolset is the server, connected
the way pydantic-ai connects it (1.x: `MCPServerStdio` / `MCPServerStreamableHTTP`;
2.x: `MCPToolset`, on fastmcp's client), default settings."""

from __future__ import annotations

import asyncio
import warnings
from importlib.metadata import version
from typing import Any

from agent_common import VIDEOS, Script, argv, emit
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

warnings.simplefilter("ignore", DeprecationWarning)


def toolset(transport: str, target: dict[str, Any]) -> Any:
    import pydantic_ai.mcp as mcp

    major = int(version("pydantic-ai-slim").split(".")[0])
    if transport == "stdio" and major < 2:
        return mcp.MCPServerStdio(
            target["command"], target["args"], env=target["env"], cwd=target["cwd"]
        )
    if transport == "http" and major < 2:
        headers = {"Authorization": f"Bearer {target['token']}"}
        return mcp.MCPServerStreamableHTTP(target["url"], headers=headers)
    from fastmcp.client.transports import StdioTransport

    if transport == "stdio":
        return mcp.MCPToolset(
            StdioTransport(target["command"], target["args"], env=target["env"], cwd=target["cwd"])
        )
    return mcp.MCPToolset(target["url"], headers={"Authorization": f"Bearer {target['token']}"})


def scripted(script: Script) -> FunctionModel:
    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last: Any = None
        if isinstance(messages[-1], ModelRequest):
            for part in messages[-1].parts:
                if isinstance(part, ToolReturnPart | RetryPromptPart):
                    last = part.content
        if last is None and script.calls:
            last = "(no tool result)"
        call = script.next_call(last)
        if call is None:
            return ModelResponse(parts=[TextPart("Done.")])
        return ModelResponse(parts=[ToolCallPart(call[0], call[1])])

    return FunctionModel(model)


async def main() -> None:
    transport, target = argv()
    server = toolset(transport, target)
    scripts = []
    async with server:
        for video in VIDEOS:
            script = Script(video)
            agent = Agent(scripted(script), toolsets=[server])
            await agent.run(f"Make the {video} video.")
            scripts.append(script)
    emit("pydantic-ai", version("pydantic-ai-slim"), scripts, mcp=version("mcp"))


asyncio.run(main())
