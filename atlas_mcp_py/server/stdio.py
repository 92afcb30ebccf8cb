"""Stdio, the transport an IDE launches, with a stop that answers every waiting call first.

Left to itself, the SDK's stdio loop dies with the process on SIGTERM (nothing answered)
and, when stdin closes, cancels every request still running. `serve_stdio` relays the
messages between the SDK's stdio streams and the server, counting the requests that are
still unanswered, so that stopping (SIGTERM, SIGINT, or stdin closing: an IDE shutting
down) goes:

1. `begin_shutdown`: every wait ends at once with its hand-off result (status
   "processing" and the prediction id, already in the ledger);
2. requests still running (a generate POST on its way to Atlas) get up to `grace` seconds
   to answer, so a billed job's id is recorded and returned; a request arriving now is
   refused with a JSON-RPC error, nothing sent to Atlas;
3. every answer is written to stdout, the server's lifespan closes (the ledger with it),
   and `serve_stdio` returns. A second SIGINT/SIGTERM stops at once.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import sys
import threading
from typing import Final

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio import CancelScope, RunFinishedError
from anyio.lowlevel import EventLoopToken
from mcp import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import (
    CONNECTION_CLOSED,
    ErrorData,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
)

from atlas_mcp_py.server.app import AtlasMCPServer
from atlas_mcp_py.server.sdk_private import ReadStream, WriteStream

__all__ = ["STOP_GRACE_SECONDS", "serve_stdio"]

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS: Final = 10.0
"""How long a stop waits for requests still running after the waits have handed off."""
SHUTTING_DOWN: Final = (
    "The MCP server is shutting down, so this request was not run and nothing was sent to "
    "Atlas. Call it again once the server has restarted."
)

RequestKey = tuple[type, str | int]


class InterruptibleStdin(anyio.AsyncFile[str]):
    """Lines of stdin for the SDK's reader, which sees the end of input on `stop_reading`.

    anyio's file reads run in a worker thread that can be neither cancelled nor left behind
    (the interpreter waits for it at exit), so a server whose client keeps stdin open could
    never stop. Here a daemon thread reads a duplicate of fd 0 (it holds no lock the
    interpreter needs at exit) and hands each line over. Meanwhile fd 0 itself reads the
    null device, as under the SDK's own stdio transport: nothing else in the process can
    take protocol bytes; `restore_fd` puts the wire back.
    """

    def __init__(self, fd: int = 0) -> None:
        self._fd = fd
        self._wire = os.dup(fd)
        raw = os.fdopen(os.dup(self._wire), "rb")
        super().__init__(io.TextIOWrapper(raw, encoding="utf-8", errors="replace"))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, fd)
        os.close(null)
        self._send, self._lines = anyio.create_memory_object_stream[str](1)
        self._reader: threading.Thread | None = None
        self._reading: CancelScope | None = None
        self._stopped = False

    async def readline(self) -> str:
        if self._reader is None:
            token = anyio.lowlevel.current_token()
            self._reader = threading.Thread(
                target=self._read, args=(token,), name="stdin reader", daemon=True
            )
            self._reader.start()
        with anyio.CancelScope() as self._reading:
            if not self._stopped:
                try:
                    return await self._lines.receive()
                except anyio.EndOfStream:
                    pass
        return ""  # the end of stdin, or stop_reading

    def stop_reading(self) -> None:
        self._stopped = True
        if self._reading is not None:
            self._reading.cancel()

    def restore_fd(self) -> None:
        """Point fd 0 at the client's pipe again."""
        os.dup2(self._wire, self._fd)
        os.close(self._wire)

    def _read(self, token: EventLoopToken) -> None:
        """The reader thread: each line, then the end, to the event loop."""
        try:
            while line := self.wrapped.readline():
                anyio.from_thread.run(self._send.send, line, token=token)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, RunFinishedError):
            return
        with contextlib.suppress(RunFinishedError):
            anyio.from_thread.run_sync(self._send.close, token=token)


def _key(request_id: str | int) -> RequestKey:
    return (type(request_id), request_id)  # 1 and "1" are different JSON-RPC ids


class _Relay:
    """Passes messages both ways and knows which client requests are still unanswered."""

    def __init__(self, to_client: WriteStream[SessionMessage]) -> None:
        self.to_client = to_client
        self.unanswered: set[RequestKey] = set()
        self.stopping = anyio.Event()
        """Set by a signal or by the end of stdin: no new request runs from now on."""
        self.finished = anyio.Event()
        """Set once the answers are out (or the grace is over): the server's input closes."""
        self._changed = anyio.Event()

    async def inbound(
        self,
        from_client: ReadStream[SessionMessage | Exception],
        to_server: WriteStream[SessionMessage | Exception],
    ) -> None:
        """Client -> server. At the end of stdin the stop begins, but the server's input
        stays open until `finished`: an end of input would cancel the calls still running."""
        async with to_server:
            async for item in from_client:
                message = item.message if isinstance(item, SessionMessage) else None
                if isinstance(message, JSONRPCRequest):
                    if self.stopping.is_set():
                        await self._refuse(message)
                        continue
                    self.unanswered.add(_key(message.id))
                elif isinstance(message, JSONRPCNotification) and (
                    message.method == "notifications/cancelled"
                ):
                    request_id = (message.params or {}).get("requestId")
                    if isinstance(request_id, str | int):  # a cancelled request gets no answer
                        self._answered(request_id)
                if not self.finished.is_set():
                    await to_server.send(item)
            if not self.stopping.is_set():
                logger.info("stdin closed: stopping")
                self.stopping.set()
            await self.finished.wait()

    async def outbound(self, from_server: ReadStream[SessionMessage]) -> None:
        """Server -> client until the server closes its side."""
        async for item in from_server:
            await self.to_client.send(item)
            message = item.message
            if isinstance(message, JSONRPCResponse | JSONRPCError) and message.id is not None:
                self._answered(message.id)

    async def all_answered(self) -> None:
        while self.unanswered:
            await self._changed.wait()

    def _answered(self, request_id: str | int) -> None:
        self.unanswered.discard(_key(request_id))
        self._changed.set()
        self._changed = anyio.Event()

    async def _refuse(self, request: JSONRPCRequest) -> None:
        error = ErrorData(code=CONNECTION_CLOSED, message=SHUTTING_DOWN)
        refusal = JSONRPCError(jsonrpc="2.0", id=request.id, error=error)
        await self.to_client.send(SessionMessage(refusal))


async def _on_signals(relay: _Relay, force: CancelScope) -> None:
    """The first SIGTERM/SIGINT starts the stop (or, after stdin closed, changes nothing:
    clients close stdin, then send SIGTERM); the second forces it."""
    if sys.platform == "win32":  # no signal receivers there: Ctrl-C ends the process
        return
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        signalled = False
        async for signum in signals:
            name = signal.Signals(signum).name
            if signalled:
                logger.warning("second signal (%s): stopping now", name)
                force.cancel()
                return
            signalled = True
            logger.info("%s: stopping", name)
            relay.stopping.set()


async def serve_stdio(mcp: AtlasMCPServer, *, grace: float = STOP_GRACE_SECONDS) -> None:
    """Serve MCP on stdin/stdout until stdin ends or a signal arrives; see the module doc."""
    stdin = InterruptibleStdin()
    try:
        await _serve(mcp, stdin, grace)
    finally:
        stdin.restore_fd()


async def _serve(mcp: AtlasMCPServer, stdin: InterruptibleStdin, grace: float) -> None:
    async with stdio_server(stdin=stdin) as (from_client, to_client):
        relay = _Relay(to_client)
        to_server, server_in = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        server_out, from_server = anyio.create_memory_object_stream[SessionMessage](0)
        async with anyio.create_task_group() as watching:
            watching.start_soon(_on_signals, relay, watching.cancel_scope)
            async with anyio.create_task_group() as serving:
                serving.start_soon(mcp.serve_streams, server_in, server_out)
                serving.start_soon(relay.outbound, from_server)
                serving.start_soon(relay.inbound, from_client, to_server)
                await relay.stopping.wait()
                mcp.begin_shutdown()
                with anyio.move_on_after(grace):
                    await relay.all_answered()
                if relay.unanswered:
                    logger.warning(
                        "%d request(s) still running after %gs; closing them",
                        len(relay.unanswered),
                        grace,
                    )
                relay.finished.set()  # the server's input closes: its loop and lifespan end
                stdin.stop_reading()
            watching.cancel_scope.cancel()
        await to_client.aclose()
