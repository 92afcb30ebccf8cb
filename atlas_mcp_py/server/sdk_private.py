"""Every use of a private part of the MCP SDK, uvicorn or sse-starlette, in one place.

Each use says what it reaches, why no public API serves, and what to check on an upgrade
of the library. Nothing else in the package touches an `_underscored` attribute of
those libraries or imports a private module of theirs
(tests/unit/server/test_sdk_private.py fails when something does). Where a lookup can
fail softly, it does: a missing private attribute degrades a feature (roots asked on
every call, a shorter wait), never breaks a call.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

# 1. The stream types of `Server.run` (mcp/server/lowlevel/server.py `run`).
#    Why: `AtlasMCPServer.serve_streams` and server.stdio hand the low-level server a pair
#    of memory streams; the SDK defines their types only in this private module (its own
#    transports import them from here too) and exports them nowhere public.
#    On upgrade: check `Server.run`'s parameter types; use a public export once one exists.
from mcp.shared._stream_protocols import ReadStream, WriteStream

if TYPE_CHECKING:
    import uvicorn
    from mcp.server.lowlevel.server import Server as LowLevelServer
    from mcp.server.mcpserver import MCPServer
    from mcp.server.session import ServerSession
    from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger("atlas_mcp_py.server.http_sessions")
"""The log of HTTP session limits, where a connection closed for slow headers belongs."""

__all__ = [
    "ReadStream",
    "WriteStream",
    "client_connection",
    "connection_state",
    "disable_sse_drain",
    "header_timeout_protocol",
    "lowlevel_server",
    "progress_requested",
    "required_arguments",
    "stop_accepting",
]


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """2. uvicorn's h11 protocol (uvicorn/protocols/http/h11_impl.py, an internal module),
    closing a connection whose request line and headers are not complete `seconds` after
    the connection opened or its previous response ended. Imported when first called
    (HTTP serving only: stdio never loads uvicorn).

    Why: uvicorn has no such deadline (its keep-alive timer stops at the first byte), and
    no public hook to add one; the subclass uses its `cycle`, `transport`, `loop`,
    `client` and `on_response_complete`.
    On upgrade: check those and `connection_made`/`data_received`/`connection_lost`, and
    whether uvicorn grew a header timeout (then drop the subclass).
    """

    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        _header_deadline: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            waiting = self.cycle
            super().data_received(data)
            if self.cycle is not waiting:  # a request's headers are in: its cycle began
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.cycle.response_complete and not self.transport.is_closing():
                self._arm()  # no pipelined request began: wait for the next one's headers

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_deadline = self.loop.call_later(seconds, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _headers_too_slow(self) -> None:
            self._header_deadline = None
            if not self.transport.is_closing():
                client = self.client[0] if self.client else "?"
                logger.info(
                    "closed a connection from %s: no request headers within %gs", client, seconds
                )
                self.transport.close()

    return HeaderTimeoutProtocol


def lowlevel_server(server: MCPServer[Any]) -> LowLevelServer[Any]:
    """3. `MCPServer._lowlevel_server` (mcp/server/mcpserver/server.py `__init__`).

    Why: serving one client over a pair of streams with the server's lifespan around it
    (`AtlasMCPServer.serve_streams`, what server.stdio relays stdin/stdout to) needs the
    low-level `Server.run`; `MCPServer` offers only `run_stdio_async`, which owns
    stdin/stdout itself and so cannot do the stop handling server.stdio does.
    On upgrade: check that the attribute still holds the `Server` and `run`'s signature.
    """
    lowlevel: LowLevelServer[Any] = server._lowlevel_server
    return lowlevel


def connection_state(session: ServerSession) -> dict[str, Any] | None:
    """4. `ServerSession._connection.state` (mcp/server/session.py, mcp/server/connection.py).

    Why: client roots are asked once per connection and kept in the connection's
    scratch dict; the per-request session exposes its connection to no public API (the
    `Context.connection` property of mcp/server/context.py is not what tools receive).
    Without it (None) the roots are asked on every call: still correct, slower.
    On upgrade: check `ServerSession.__init__` and `Connection.state`; prefer a public
    accessor once one exists.
    """
    connection = getattr(session, "_connection", None)
    state = getattr(connection, "state", None)
    return state if isinstance(state, dict) else None


def client_connection(session: ServerSession) -> object:
    """8. `ServerSession._connection` (mcp/server/session.py, mcp/server/connection.py).

    Why: a client's own time limit, learned when it abandons a call, is kept per client:
    over HTTP that is the MCP session's connection (the per-request session object is new
    for every request). The session itself when there is none (a 2026-era stateless
    request: nothing carries over, the limit is learned again).
    On upgrade: check `ServerSession.__init__`; prefer a public accessor once one exists.
    """
    return getattr(session, "_connection", None) or session


def required_arguments(server: MCPServer[Any], tool: str) -> set[str] | None:
    """9. `MCPServer._tool_manager` and its `get_tool(name).parameters`
    (mcp/server/mcpserver/server.py, tools/tool_manager.py).

    Why: `null` for an optional argument is dropped before the SDK validates (mcp-use's
    LangChain adapter sends one for every argument left out); which are required is the
    registered tool's own schema, which `list_tools` gives only reshaped and async.
    None for an unknown tool (the SDK's call then says so).
    On upgrade: check `MCPServer.__init__` and `Tool.parameters`.
    """
    registered = server._tool_manager.get_tool(tool)
    return None if registered is None else set(registered.parameters.get("required") or ())


def progress_requested(session: ServerSession) -> bool:
    """5. `ServerSession._request_outbound` and its `_progress_token` (JSON-RPC dispatch,
    mcp/shared/jsonrpc_dispatcher.py) or `_on_progress` (the in-process direct dispatcher),
    possibly wrapped (`_inner`).

    Why: whether a caller will see progress decides how long a call may wait
    (`generation.wait_budget`); the request's `_meta.progressToken` tells on most paths,
    but the in-process client passes a callback and no token, and no public API says
    so. False when none is found: the wait is then capped, never lost.
    On upgrade: check where `ServerSession.report_progress` sends (its outbound and
    what that checks before sending).
    """
    outbound = getattr(session, "_request_outbound", None)
    for _ in range(4):
        if outbound is None:
            break
        for attr in ("_progress_token", "_on_progress"):
            if getattr(outbound, attr, None) is not None:
                return True
        outbound = getattr(outbound, "_inner", None)
    return False


def stop_accepting(server: uvicorn.Server) -> None:
    """6. `uvicorn.Server.servers` and `.server_state.connections` (uvicorn/server.py).

    Why: a graceful stop first closes the listening sockets and asks every open
    connection to end after its current response, then waits for in-flight calls to
    hand off, and only then lets uvicorn close what is left; `Server.shutdown` does all
    of it at once, with no hook between. Both attributes are undocumented.
    On upgrade: check `Server.startup` (where `servers` is set) and `ServerState`.
    """
    for listener in getattr(server, "servers", []):
        listener.close()
    for connection in list(server.server_state.connections):
        connection.shutdown()  # idle ones close now, busy ones once answered: no new request


def disable_sse_drain() -> None:
    """7. sse-starlette's `AppStatus.enable_automatic_graceful_drain` (sse_starlette/sse.py).

    Why: sse-starlette ends every SSE stream within 0.5 s of uvicorn's `should_exit`,
    answered or not, which raced the hand-off of in-flight waits; `GracefulServer`
    closes them once the answers are out. This is what its `disable_...()` helper does,
    typed.
    On upgrade: check that the flag (or its helper) still exists and is read at shutdown.
    """
    from sse_starlette.sse import AppStatus

    AppStatus.enable_automatic_graceful_drain = False
