"""Plain helpers shared by the integration and end-to-end tests (the fixtures they use,
`sim`, `slow_sim` and `workspace`, are in tests/conftest.py).

Imported as `helpers`: tests/ has no `__init__.py`, so pytest puts it on `sys.path` when
it loads tests/conftest.py (the default "prepend" import mode), and mypy maps it the same
way (a top-level module next to conftest.py).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx2
from anyio.abc import Process
from mcp import StdioServerParameters
from mcp.types import CallToolResult

from atlas_mcp_py.config import Settings
from atlas_mcp_py.files.addresses import AddressGuard, Resolver
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer

MODES = ["auto", "legacy"]
"""The two protocol eras every server test runs in."""
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
"""A file that sniffs as a PNG image."""


def simulator_settings(sim: SimulatorServer, *roots: Path, **overrides: Any) -> Settings:
    """Settings for a server against `sim`, allowed `roots`, polling fast, one retry."""
    values: dict[str, Any] = {
        "api_key": SIMULATOR_API_KEY,
        "base_url": sim.base_url,
        "roots": roots,
        "poll_min_seconds": 0.05,
        "poll_max_seconds": 0.1,
        "heartbeat_seconds": 0.2,
        "max_retries": 1,
    }
    values.update(overrides)
    return Settings(**values)


def structured(result: CallToolResult) -> dict[str, Any]:
    """A tool result's structured content (which it must have)."""
    data = result.structured_content
    assert isinstance(data, dict), result.content
    return data


def text_of(result: CallToolResult) -> str:
    """A tool result's text blocks, joined."""
    return " ".join(getattr(block, "text", "") for block in result.content)


async def assert_polling_stopped(sim: SimulatorServer, prediction_id: str, interval: float) -> int:
    """After a wait was cancelled: the job's poll count comes to rest and stays there.

    The server may take a moment to notice (more on a loaded machine), so first wait,
    bounded, for the count to hold still over three poll `interval`s; a wait that never
    stopped polling never gets there and fails. Returns the final count.
    """
    count = sim.state.count("prediction", prediction_id)
    with anyio.fail_after(5):
        while True:
            await anyio.sleep(3 * interval)
            now = sim.state.count("prediction", prediction_id)
            if now == count:
                break
            count = now
    await anyio.sleep(10 * interval)  # ten poll intervals: a live wait would poll again
    assert sim.state.count("prediction", prediction_id) == count
    return count


async def pipe(source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream) -> None:
    """Copy `source` to `sink` until either end closes, then close `sink`'s side."""
    try:
        async for chunk in source:
            await sink.send(chunk)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass
    finally:
        await sink.aclose()


@asynccontextmanager
async def tcp_server(
    handle: Callable[[anyio.abc.SocketStream], Awaitable[None]],
) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 (a free port, yielded) calling `handle` per connection."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield port
        tg.cancel_scope.cancel()


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_until_answering(url: str, process: Process, seconds: float = 30) -> None:
    """Ask `url` until it answers 200, failing if `process` (what serves it) exits first."""
    async with httpx2.AsyncClient() as http:
        with anyio.fail_after(seconds):
            while True:
                assert process.returncode is None, f"{process} exited during startup"
                try:
                    if (await http.get(url)).status_code == 200:
                        return
                except httpx2.TransportError:
                    await anyio.sleep(0.05)


def stdio_env(sim: SimulatorServer, root: Path, state: Path, **extra: str) -> dict[str, str]:
    """The variables a stdio server against `sim` gets: key, URL, `root` as the only root,
    `state` for the ledger, fast polling; `extra` added or replacing."""
    env = {
        "ATLASCLOUD_API_KEY": SIMULATOR_API_KEY,
        "ATLASCLOUD_BASE_URL": sim.base_url,
        "ATLAS_MCP_ROOTS": str(root),
        "ATLAS_MCP_STATE_DIR": str(state),
        "ATLAS_MCP_POLL_MIN": "0.1",
        "ATLAS_MCP_POLL_MAX": "0.2",
    }
    env.update(extra)
    return env


def stdio_params(env: dict[str, str], cwd: Path) -> StdioServerParameters:
    """`python -m atlas_mcp_py` over stdio with only `env`, started in `cwd`."""
    return StdioServerParameters(
        command=sys.executable, args=["-m", "atlas_mcp_py"], env=env, cwd=str(cwd)
    )


class FakeClock:
    """A clock the test moves by hand, so job progress needs no waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


PUBLIC_ADDRESS = "93.184.215.14"
"""A public (globally routable) address the stub resolvers answer: never connected to
(the tests that use it talk through httpx2.MockTransport)."""


def stub_resolver(answers: dict[str, list[str]] | None = None) -> Resolver:
    """A resolver for `AddressGuard`: `answers[host]`, else PUBLIC_ADDRESS. No DNS."""

    async def resolve(host: str, port: int) -> list[str]:
        return list((answers or {}).get(host, [PUBLIC_ADDRESS]))

    return resolve


GUARD = AddressGuard(resolve=stub_resolver())
"""A download guard for fake file servers: every name resolves to a public address."""
