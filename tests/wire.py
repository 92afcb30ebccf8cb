"""A hand-written JSON-RPC client for the stdio server: any protocol version, every byte seen.

The SDK's own client speaks only 2025-11-25 and 2026-07-28; older versions are what real
older clients send, so the per-version tests write the messages themselves.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from helpers import stdio_env

from atlas_mcp_py.simulator import SimulatorServer

MODERN = "2026-07-28"
CLIENT_INFO = {"name": "wire-test", "version": "1.0"}


def server_env(sim: SimulatorServer, root: Path, **extra: str) -> dict[str, str]:
    defaults = {
        "ATLAS_MCP_HEARTBEAT": "0.3",
        "NO_PROXY": "127.0.0.1,localhost",
        "PATH": "/usr/bin:/bin",
    }
    return stdio_env(sim, root, root.parent / "state", **{**defaults, **extra})


class WireSession:
    """One stdio connection; `request` returns the answer and the notifications before it."""

    def __init__(
        self, process: Process, version: str, capabilities: Mapping[str, Any] | None = None
    ) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self.version = version
        self.capabilities = dict(capabilities or {})
        """What the client advertises (the handshake's, or each modern request's)."""
        self._reader = BufferedByteReceiveStream(process.stdout)
        self._next_id = 0

    async def send(self, message: Mapping[str, Any]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")

    def _params(self, params: Mapping[str, Any] | None, progress: bool) -> dict[str, Any]:
        out = dict(params or {})
        meta: dict[str, Any] = {}
        if self.version == MODERN:
            meta = {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": self.capabilities,
                "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
            }
        if progress:
            meta["progressToken"] = f"tok-{self._next_id}"
        if meta:
            out["_meta"] = meta
        return out

    async def request(
        self, method: str, params: Mapping[str, Any] | None = None, *, progress: bool = False
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The whole response message (`result` or `error`) and the notifications before it."""
        self._next_id += 1
        request_id = self._next_id
        await self.send(
            {"id": request_id, "method": method, "params": self._params(params, progress)}
        )
        notifications: list[dict[str, Any]] = []
        while True:
            line = await self._reader.receive_until(b"\n", 16 * 1024 * 1024)
            message = json.loads(line)
            if message.get("id") == request_id and "method" not in message:
                return message, notifications
            notifications.append(message)

    async def initialize(self) -> dict[str, Any]:
        """The handshake (2025-era) or `server/discover` (2026-07-28); returns the answer."""
        if self.version == MODERN:
            answer, _ = await self.request("server/discover")
            return answer
        answer, _ = await self.request(
            "initialize",
            {
                "protocolVersion": self.version,
                "capabilities": self.capabilities,
                "clientInfo": CLIENT_INFO,
            },
        )
        await self.send({"method": "notifications/initialized"})
        return answer


@asynccontextmanager
async def wire_session(
    version: str,
    env: dict[str, str],
    cwd: Path,
    capabilities: Mapping[str, Any] | None = None,
) -> AsyncIterator[WireSession]:
    process = await anyio.open_process(
        [sys.executable, "-m", "atlas_mcp_py"], env=env, cwd=cwd, stderr=None
    )
    async with process:
        try:
            yield WireSession(process, version, capabilities)
        finally:
            assert process.stdin is not None
            await process.stdin.aclose()
            with anyio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
