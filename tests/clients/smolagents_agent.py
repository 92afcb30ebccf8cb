"""smolagents' MCP tools make both videos: `ToolCollection.from_mcp` (through mcpadapt),
each tool called as a smolagents agent calls it (`tool(**arguments)`), default settings.
stdio only: its streamable-HTTP path takes no headers for this server's token."""

from __future__ import annotations

from importlib.metadata import version

from agent_common import VIDEOS, Script, argv, emit
from mcp import StdioServerParameters
from smolagents import ToolCollection


def main() -> None:
    transport, target = argv()
    assert transport == "stdio", "stdio only"
    params = StdioServerParameters(**target)
    scripts = []
    with ToolCollection.from_mcp(params, trust_remote_code=True) as collection:
        tools = {tool.name: tool for tool in collection.tools}
        for video in VIDEOS:
            script = Script(video)
            call = script.next_call(None)
            while call is not None:
                call = script.next_call(tools[call[0]](**call[1]))
            scripts.append(script)
    adapter = {"mcpadapt": version("mcpadapt"), "mcp": version("mcp")}
    emit("smolagents", version("smolagents"), scripts, **adapter)


main()
