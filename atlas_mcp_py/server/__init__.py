"""MCP only: the server, its tools, results, transports (stdio, HTTP).

The front door names what the room offers the command line: `build_server` and the two
ways to serve it. Each is imported when first used (`__getattr__`), so serving on stdio
never loads the HTTP stack (uvicorn, Starlette's routing) and importing the room costs
nothing until then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atlas_mcp_py.server.app import build_server
    from atlas_mcp_py.server.http import HttpOptions, serve_http
    from atlas_mcp_py.server.stdio import serve_stdio
    from atlas_mcp_py.server.users import add_token

__all__ = ["HttpOptions", "add_token", "build_server", "serve_http", "serve_stdio"]


def __getattr__(name: str) -> Any:
    """The offered name `name`, its module imported now (by an import statement, so
    `python -X importtime` shows it like any other)."""
    if name == "build_server":
        from atlas_mcp_py.server.app import build_server

        return build_server
    if name in ("HttpOptions", "serve_http"):
        from atlas_mcp_py.server.http import HttpOptions, serve_http

        return {"HttpOptions": HttpOptions, "serve_http": serve_http}[name]
    if name == "add_token":
        from atlas_mcp_py.server.users import add_token

        return add_token
    if name == "serve_stdio":
        from atlas_mcp_py.server.stdio import serve_stdio

        return serve_stdio
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
