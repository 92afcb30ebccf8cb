"""The OpenAI Agents SDK's agent makes both videos: an `Agent` run by `Runner.run` (its
default `max_turns`), with the server as `MCPServerStdio` / `MCPServerStreamableHttp` at
their default `client_session_timeout_seconds` (5 s), and a scripted `Model` in place of
OpenAI's (the SDK's `Model` interface: no network; tracing is off by environment)."""

from __future__ import annotations

import asyncio
import json
from importlib.metadata import version
from typing import Any

from agent_common import VIDEOS, Script, argv, emit
from agents import Agent, Runner
from agents.items import ModelResponse
from agents.mcp import MCPServerStdio, MCPServerStreamableHttp
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)


class ScriptedModel(Model):
    """Answers as agent_common.Script decides, from the last tool output in the input."""

    def __init__(self, script: Script) -> None:
        self.script = script

    async def get_response(
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        last: Any = None
        if isinstance(input, list) and input:
            item = input[-1]
            item = item if isinstance(item, dict) else item.model_dump()
            if item.get("type") == "function_call_output":
                last = item.get("output")
        call = self.script.next_call(last)
        number = len(self.script.calls)
        if call is None:
            text = ResponseOutputText(type="output_text", text="Done.", annotations=[])
            output: Any = ResponseOutputMessage(
                id="msg", type="message", role="assistant", status="completed", content=[text]
            )
        else:
            output = ResponseFunctionToolCall(
                id=f"fc_{number}",
                call_id=f"call_{self.script.video}_{number}",
                type="function_call",
                name=call[0],
                arguments=json.dumps(call[1]),
                status="completed",
            )
        return ModelResponse(output=[output], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the scripted model answers whole responses only")


def server(transport: str, target: dict[str, Any]) -> Any:
    if transport == "stdio":
        return MCPServerStdio(params=target)
    headers = {"Authorization": f"Bearer {target['token']}"}
    return MCPServerStreamableHttp(params={"url": target["url"], "headers": headers})


async def main() -> None:
    transport, target = argv()
    scripts = []
    async with server(transport, target) as atlas:
        for video in VIDEOS:
            script = Script(video)
            agent = Agent(name="maker", model=ScriptedModel(script), mcp_servers=[atlas])
            await Runner.run(agent, f"Make the {video} video.")
            scripts.append(script)
    emit("openai-agents", version("openai-agents"), scripts, mcp=version("mcp"))


asyncio.run(main())
