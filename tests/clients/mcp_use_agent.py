"""mcp-use's agent makes both videos: an `MCPAgent` over an `MCPClient` made from its config
dictionary, run with `agent.run(...)` (its LangChain agent, through its `LangChainAdapter`:
the adapter's argument model sends `null` for every optional argument the model left
out), and a scripted LangChain chat model in place of a provider's. Default settings
(`max_steps` 5: model calls per run); telemetry off by environment."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any

from agent_common import VIDEOS, Script, argv, emit
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from mcp_use import MCPAgent, MCPClient


class ScriptedChatModel(BaseChatModel):
    """Answers as agent_common.Script decides, from the last tool message."""

    script: Any = None

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self  # the script knows the tools' names

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        script: Script = self.script
        last: Any = None
        if messages and isinstance(messages[-1], ToolMessage):
            last = messages[-1].content or "(no tool result)"
        call = script.next_call(last)
        if call is None:
            message = AIMessage(content="Done.")
        else:
            number = len(script.calls)
            tool_call = {"name": call[0], "args": call[1], "id": f"call_{script.video}_{number}"}
            message = AIMessage(content="", tool_calls=[tool_call])
        return ChatResult(generations=[ChatGeneration(message=message)])


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
    model = ScriptedChatModel()
    agent = MCPAgent(llm=model, client=client)
    scripts = []
    try:
        for video in VIDEOS:
            model.script = script = Script(video)
            await agent.run(f"Make the {video} video.")
            scripts.append(script)
    finally:
        await agent.close()
    emit("mcp-use", version("mcp-use"), scripts, mcp=version("mcp"))


asyncio.run(main())
