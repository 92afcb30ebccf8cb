"""`python -m atlas_mcp_py` as a subprocess spoken to in raw JSON-RPC over stdio, one call
at a time, keeping every byte it wrote on stdout and stderr (for tests that must check
what never appears there) and its pid (for tests that act on the process itself).

Imported as `stdio_session`, like `helpers` (see there).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream


class StdioSession:
    """A started server: `call` a tool, read `stdout` / `stderr` so far."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        self.stdout = bytearray()
        self.stderr = bytearray()
        self._next_id = 0
        self._waiting: dict[int, MemoryObjectSendStream[dict[str, Any]]] = {}

    @property
    def pid(self) -> int:
        return self.process.pid

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its response message (result or error)."""
        self._next_id += 1
        number = self._next_id
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](1)
        self._waiting[number] = send
        message = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
        await self._send(message)
        async with receive:
            return await receive.receive()

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A tools/call's result (`isError`, `content`, `structuredContent`)."""
        response = await self.request("tools/call", {"name": name, "arguments": arguments})
        assert "result" in response, response
        result: dict[str, Any] = response["result"]
        return result

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send((json.dumps(message) + "\n").encode())

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        buffer = b""
        async for chunk in self.process.stdout:
            self.stdout += chunk
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                # strict: every stdout line is UTF-8 JSON-RPC, or the test fails here
                message = json.loads(line.decode("utf-8"))
                waiting = self._waiting.pop(message.get("id", -1), None)
                if waiting is not None and "method" not in message:
                    await waiting.send(message)
                    await waiting.aclose()
        for waiting in self._waiting.values():  # the server is gone: no answer will come
            await waiting.aclose()

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        async for chunk in self.process.stderr:
            self.stderr += chunk


@asynccontextmanager
async def stdio_session(env: dict[str, str], cwd: Path) -> AsyncIterator[StdioSession]:
    """Start the server, initialize it (protocol 2025-11-25), yield the session; on exit
    close its stdin and wait for it to end (and for its last output)."""
    process = await anyio.open_process([sys.executable, "-m", "atlas_mcp_py"], env=env, cwd=cwd)
    session = StdioSession(process)
    async with process, anyio.create_task_group() as tg:
        tg.start_soon(session._read_stdout)
        tg.start_soon(session._read_stderr)
        await session.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "stdio-session", "version": "1"},
            },
        )
        await session._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        try:
            yield session
        finally:
            assert process.stdin is not None
            await process.stdin.aclose()
            await process.wait()
