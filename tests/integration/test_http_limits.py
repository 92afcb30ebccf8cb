"""One HTTP client cannot lock the others out: sessions are capped per client address and
per token, idle ones expire, slow request headers are cut off, /healthz keeps answering.
A real uvicorn server on 127.0.0.1; other client addresses are other 127.0.0.0/8 sources."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from test_http_transport import TOKEN, Running, http_server, initialize_body, make_settings
from test_http_transport import raw_headers as auth_headers

from atlas_mcp_py.config import Settings
from atlas_mcp_py.simulator import SimulatorServer

FLOODER = "127.0.0.1"
NEIGHBOUR = "127.0.0.2"


def _loopback_aliases() -> bool:
    """Linux routes all of 127.0.0.0/8 to lo; macOS only 127.0.0.1 unless aliased."""
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.3", 0))
    except OSError:
        return False
    return True


pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not _loopback_aliases(), reason="needs 127.0.0.2 and .3 as sources"),
]


@contextmanager
def limited_server(sim: SimulatorServer, **limits: Any) -> Iterator[Running]:
    with http_server(make_settings(sim, **limits)) as running:
        yield running


def from_address(address: str, **kwargs: Any) -> httpx2.AsyncClient:
    """An HTTP client whose connections come from `address` (any 127.0.0.0/8 source)."""
    transport = httpx2.AsyncHTTPTransport(local_address=address)
    return httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(30), **kwargs)


async def initialize(http: httpx2.AsyncClient, url: str) -> httpx2.Response:
    return await http.post(url, json=initialize_body(), headers=auth_headers())


async def open_session(http: httpx2.AsyncClient, url: str) -> str:
    response = await initialize(http, url)
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    headers = auth_headers(**{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
    assert (await http.post(url, json=initialized, headers=headers)).status_code == 202
    return session


async def ping(http: httpx2.AsyncClient, url: str, session: str) -> int:
    """The status of a `ping` in `session`: 200 while it lives, 404 once it is gone."""
    headers = auth_headers(**{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
    body = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
    return (await http.post(url, json=body, headers=headers)).status_code


@asynccontextmanager
async def get_stream(http: httpx2.AsyncClient, url: str, session: str) -> AsyncIterator[None]:
    """Hold the session's GET notification stream open: the session is busy meanwhile."""
    headers = auth_headers(**{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
    headers["Accept"] = "text/event-stream"
    async with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        yield


async def healthy(base: str) -> bool:
    async with httpx2.AsyncClient(timeout=5) as http:
        response = await http.get(f"{base}/healthz")
    return response.status_code == 200 and response.json() == {"status": "ok"}


async def a_client_works(url: str, address: str) -> None:
    """A full MCP client from `address`: connects, lists tools, calls one."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        from_address(address, headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        assert (await client.list_tools()).tools
        result = await client.call_tool("atlas_list_models", {"limit": 1})
        assert not result.is_error


async def test_a_flood_of_initialize_calls_from_one_address_locks_nobody_out(
    sim: SimulatorServer,
) -> None:
    flood = 300
    with limited_server(sim, http_sessions_per_client=8, http_max_sessions=40) as running:
        statuses: list[int] = []
        sessions: list[str] = []
        with anyio.fail_after(60):
            async with from_address(FLOODER) as http:

                async def initialize_many(count: int) -> None:
                    for _ in range(count):
                        response = await initialize(http, running.url)
                        statuses.append(response.status_code)
                        sessions.append(response.headers.get("mcp-session-id", ""))

                async with anyio.create_task_group() as tg:  # 4 at once: fewer than the cap
                    for _ in range(4):
                        tg.start_soon(initialize_many, flood // 4)
                assert statuses == [200] * flood  # each new one took an idle one's place
                alive = [s for s in sessions if await ping(http, running.url, s) == 200]
            assert len(alive) == 8, "the address holds more sessions than its cap"
            assert await healthy(running.base)
            await a_client_works(running.url, NEIGHBOUR)


async def test_when_every_session_of_an_address_is_busy_a_new_one_gets_429_and_others_pass(
    sim: SimulatorServer,
) -> None:
    with limited_server(sim, http_sessions_per_client=3) as running, anyio.fail_after(60):
        async with from_address(FLOODER) as http, from_address(NEIGHBOUR) as other:
            sessions = [await open_session(http, running.url) for _ in range(3)]
            async with (
                get_stream(http, running.url, sessions[0]),
                get_stream(http, running.url, sessions[1]),
                get_stream(http, running.url, sessions[2]),
            ):
                refused = await initialize(http, running.url)
                assert (await initialize(other, running.url)).status_code == 200
            assert refused.status_code == 429
            assert refused.headers["retry-after"]
            error = refused.json()["error"]
            assert refused.json()["jsonrpc"] == "2.0" and error["code"] == -32000
            assert "Too many MCP sessions" in error["message"]
            assert "ATLAS_MCP_HTTP_SESSIONS_PER_CLIENT" in error["message"]
            # the streams are closed: once the server has seen that (asynchronously),
            # the sessions are idle and the oldest makes room
            while (await initialize(http, running.url)).status_code == 429:  # noqa: ASYNC110
                await anyio.sleep(0.05)
            gone = [s for s in sessions if await ping(http, running.url, s) == 404]
            assert len(gone) == 1, "one idle session (the least recently used) made room"


async def test_over_the_token_cap_the_heaviest_address_gives_way_and_busy_sessions_stay(
    sim: SimulatorServer,
) -> None:
    with limited_server(sim, http_sessions_per_client=100, http_max_sessions=10) as running:
        with anyio.fail_after(60):
            async with (
                from_address(NEIGHBOUR) as light,
                from_address(FLOODER) as heavy,
                from_address("127.0.0.3") as late,
            ):
                busy = await open_session(light, running.url)
                idle = await open_session(light, running.url)
                async with get_stream(light, running.url, busy):
                    flood = [await initialize(heavy, running.url) for _ in range(30)]
                    assert [r.status_code for r in flood] == [200] * 30
                    assert (await initialize(late, running.url)).status_code == 200
                    assert await ping(light, running.url, busy) == 200
                    assert await ping(light, running.url, idle) == 200
                    heavy_sessions = [r.headers["mcp-session-id"] for r in flood]
                    alive = [s for s in heavy_sessions if await ping(heavy, running.url, s) == 200]
                    assert len(alive) == 10 - 3  # the cap, less light's two and late's one


async def test_an_idle_session_closes_after_the_idle_time_and_the_default_is_minutes(
    sim: SimulatorServer,
) -> None:
    default = Settings().http_session_idle_seconds
    assert 60 <= default <= 600, "idle sessions should go in minutes (the SDK's is 30)"
    with limited_server(sim, http_session_idle_seconds=0.5) as running:
        async with from_address(FLOODER) as http:
            session = await open_session(http, running.url)
            with anyio.fail_after(10):
                while True:  # a ping is activity: leave the session alone longer than 0.5 s
                    await anyio.sleep(1.0)
                    if await ping(http, running.url, session) == 404:
                        break


async def test_slow_request_headers_are_cut_off_and_health_and_clients_keep_working(
    sim: SimulatorServer,
) -> None:
    """Slowloris: connections that trickle header bytes forever, fresh ones and ones kept
    alive after an answer, are dropped within the header timeout, while /healthz and a
    real client keep being served."""
    sockets = 250
    dropped = 0
    with limited_server(sim, http_header_timeout_seconds=1.0) as running:
        port = int(running.base.rsplit(":", 1)[1])
        opened = anyio.Event()
        connected = 0

        async def slow_client(kept_alive: bool) -> None:
            nonlocal dropped, connected
            stream = await anyio.connect_tcp("127.0.0.1", port)
            async with stream, anyio.create_task_group() as tg:
                if kept_alive:  # one whole request and its answer first
                    await stream.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    answer = b""
                    while b'"ok"}' not in answer:
                        answer += await stream.receive()
                await stream.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                connected += 1
                if connected == sockets:
                    opened.set()

                async def trickle() -> None:
                    try:
                        while True:
                            await stream.send(b"X")  # one byte of a header name, now and then
                            await anyio.sleep(0.5)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                        return  # dropped

                tg.start_soon(trickle)
                with suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    await stream.receive()  # returns when the server hangs up
                dropped += 1
                tg.cancel_scope.cancel()

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for n in range(sockets):
                    tg.start_soon(slow_client, n % 2 == 1)
                await opened.wait()
                assert await healthy(running.base)
                await a_client_works(running.url, NEIGHBOUR)
    assert dropped == sockets
