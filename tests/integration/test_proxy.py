"""Environment proxies: requests go through `HTTP(S)_PROXY` unless `NO_PROXY` names the
host, through a real forward proxy on loopback (a few lines of anyio below)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpx2
import pytest
from helpers import pipe, simulator_settings, tcp_server

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.transport import LazyHTTPTransport
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def forward_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """A plain-HTTP forward proxy: takes absolute-form requests, records their URLs,
    sends them on in origin form with `Connection: close`, pipes the answer back."""
    seen: list[str] = []

    async def handle(client: anyio.abc.SocketStream) -> None:
        async with client:
            head = b""
            while b"\r\n\r\n" not in head:
                head += await client.receive()
            head, _, rest = head.partition(b"\r\n\r\n")
            request_line, *headers = head.decode("latin-1").split("\r\n")
            method, url, version = request_line.split(" ")
            seen.append(url)
            target = httpx2.URL(url)
            kept = [h for h in headers if not h.lower().startswith(("connection:", "proxy-"))]
            origin = target.raw_path.decode("ascii")
            upstream_head = "\r\n".join([f"{method} {origin} {version}", *kept])
            async with await anyio.connect_tcp(target.host, target.port or 80) as upstream:
                await upstream.send(f"{upstream_head}\r\nConnection: close\r\n\r\n".encode())
                if rest:
                    await upstream.send(rest)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(pipe, client, upstream)
                    await pipe(upstream, client)
                    tg.cancel_scope.cancel()

    async with tcp_server(handle) as port:
        yield f"http://127.0.0.1:{port}", seen


async def test_requests_go_through_the_proxy_the_environment_names(
    sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with forward_proxy() as (proxy, seen):
        for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        async with AtlasClient(simulator_settings(sim), transport=LazyHTTPTransport()) as client:
            models = await client.list_models()
    assert models
    assert seen and all(url.startswith(sim.base_url) for url in seen)
    assert sim.state.requests  # the simulator answered what the proxy passed on


async def test_no_proxy_hosts_are_reached_directly(sim: SimulatorServer) -> None:
    async with forward_proxy() as (proxy, seen):
        transport = LazyHTTPTransport(proxies={"http": proxy, "no": "127.0.0.1,localhost"})
        async with AtlasClient(simulator_settings(sim), transport=transport) as client:
            assert await client.list_models()
    assert seen == []


@pytest.mark.parametrize(
    ("proxies", "url", "expected"),
    [
        ({}, "https://api.atlascloud.ai/x", None),
        ({"https": "http://proxy:3128"}, "https://api.atlascloud.ai/x", "http://proxy:3128"),
        ({"https": "proxy.corp:3128"}, "https://api.atlascloud.ai/x", "http://proxy.corp:3128"),
        ({"all": "http://proxy:3128"}, "https://cdn.example.com/v.mp4", "http://proxy:3128"),
        ({"https": "http://p:1", "no": ".atlascloud.ai"}, "https://api.atlascloud.ai/x", None),
        ({"https": "socks5://p:1080"}, "https://api.atlascloud.ai/x", None),
    ],
)
def test_which_proxy_a_request_takes(
    proxies: dict[str, str], url: str, expected: str | None
) -> None:
    assert LazyHTTPTransport(proxies=proxies).proxy_for(httpx2.URL(url)) == expected
