"""LlamaIndex's agent makes both videos: a `FunctionAgent` (llama_index.core.agent.workflow)
whose tools are `McpToolSpec(BasicMCPClient(...)).to_tool_list_async()` (llama-index-tools-mcp)
and whose LLM is LlamaIndex's own `MockFunctionCallingLLM` answering as agent_common.Script
decides. Default settings: `BasicMCPClient`'s `timeout` is 30 s (each request's read time
limit, stdio and HTTP), and it opens a new session (over stdio: a new server process) for
every call; the HTTP token goes in its `headers`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from agent_common import VIDEOS, Script, argv, emit
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.tools.mcp import BasicMCPClient, McpToolSpec


def client(transport: str, target: dict[str, Any]) -> BasicMCPClient:
    if transport == "stdio":  # no `cwd`: the server's root is ATLAS_MCP_ROOTS
        return BasicMCPClient(target["command"], args=target["args"], env=target["env"])
    headers = {"Authorization": f"Bearer {target['token']}"}
    return BasicMCPClient(target["url"], headers=headers)


def scripted(script: Script) -> MockFunctionCallingLLM:
    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        last: Any = None
        if messages and messages[-1].role == MessageRole.TOOL:
            last = messages[-1].content or "(no tool result)"
        call = script.next_call(last)
        if call is None:
            return ChatMessage(role=MessageRole.ASSISTANT, content="Done.")
        block = ToolCallBlock(
            tool_call_id=f"call_{script.video}_{len(script.calls)}",
            tool_name=call[0],
            tool_kwargs=call[1],
        )
        return ChatMessage(role=MessageRole.ASSISTANT, blocks=[block])

    return MockFunctionCallingLLM(response_generator=respond)


async def main() -> None:
    transport, target = argv()
    tools = await McpToolSpec(client(transport, target)).to_tool_list_async()
    scripts = []
    for video in VIDEOS:
        script = Script(video)
        agent = FunctionAgent(tools=tools, llm=scripted(script))
        await agent.run(user_msg=f"Make the {video} video.")
        scripts.append(script)
    emit("llama-index", version("llama-index-tools-mcp"), scripts, mcp=version("mcp"))


asyncio.run(main())
