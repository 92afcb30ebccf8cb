"""Google ADK's agent makes both videos: an `LlmAgent` run by an `InMemoryRunner`, with the
server as an `McpToolset` (`StdioConnectionParams` / `StreamableHTTPConnectionParams`, the
token in its `headers`), and a scripted `BaseLlm` in place of Gemini (no network). Default
settings: over stdio `StdioConnectionParams.timeout`, 5 s, is also each request's read
time limit; over HTTP the read limit is `sse_read_timeout`, 300 s."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from importlib.metadata import version
from typing import Any

from agent_common import VIDEOS, Script, argv, emit
from google.adk.agents import LlmAgent
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import InMemoryRunner
from google.adk.tools.mcp_tool import (
    McpToolset,
    StdioConnectionParams,
    StreamableHTTPConnectionParams,
)
from google.genai import types
from mcp import StdioServerParameters


class ScriptedLlm(BaseLlm):
    """Answers as agent_common.Script decides, from the last function response."""

    script: Any

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        script: Script = self.script
        last: Any = None
        if llm_request.contents:
            for part in llm_request.contents[-1].parts or []:
                if part.function_response is not None:
                    last = json.dumps(part.function_response.response)
        if last is None and script.calls:
            last = "(no tool result)"
        call = script.next_call(last)
        if call is None:
            part = types.Part(text="Done.")
        else:
            function_call = types.FunctionCall(
                id=f"call_{script.video}_{len(script.calls)}", name=call[0], args=call[1]
            )
            part = types.Part(function_call=function_call)
        yield LlmResponse(content=types.Content(role="model", parts=[part]))


def toolset(transport: str, target: dict[str, Any]) -> McpToolset:
    if transport == "stdio":
        return McpToolset(
            connection_params=StdioConnectionParams(server_params=StdioServerParameters(**target))
        )
    headers = {"Authorization": f"Bearer {target['token']}"}
    return McpToolset(
        connection_params=StreamableHTTPConnectionParams(url=target["url"], headers=headers)
    )


async def main() -> None:
    transport, target = argv()
    model = ScriptedLlm(model="scripted", script=None)
    agent = LlmAgent(name="maker", model=model, tools=[toolset(transport, target)])
    runner = InMemoryRunner(agent=agent)  # one app, a session for each video
    scripts = []
    try:
        for video in VIDEOS:
            model.script = script = Script(video)
            session = await runner.session_service.create_session(
                app_name=runner.app_name, user_id="user"
            )
            message = types.Content(role="user", parts=[types.Part(text=f"Make the {video}.")])
            async for _ in runner.run_async(
                user_id="user", session_id=session.id, new_message=message
            ):
                pass
            scripts.append(script)
    finally:
        await runner.close()  # closes the toolset
    emit("google-adk", version("google-adk"), scripts, mcp=version("mcp"))


asyncio.run(main())
