"""Connections: a billed POST never rides a kept-alive connection (the server may close
it while the request is on its way, which would make the outcome unknown); polls do reuse
theirs. Counted by a TCP relay on loopback in front of the simulator. And the trust store
is read only for TLS, off the event loop."""

from __future__ import annotations

import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest
from helpers import free_port, pipe, simulator_settings, tcp_server

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.transport import LazyHTTPTransport
from atlas_mcp_py.errors import ConfigError
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def counting_relay(port: int) -> AsyncIterator[tuple[str, list[int]]]:
    """Relays TCP to 127.0.0.1:`port`; `accepted[0]` counts the connections made to it."""
    accepted = [0]

    async def handle(client: anyio.abc.SocketStream) -> None:
        accepted[0] += 1
        async with (
            client,
            await anyio.connect_tcp("127.0.0.1", port) as upstream,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(pipe, client, upstream)
            await pipe(upstream, client)

    async with tcp_server(handle) as relay_port:
        yield f"http://127.0.0.1:{relay_port}", accepted


async def test_each_billed_post_opens_its_own_connection_and_polls_share_one(
    sim: SimulatorServer,
) -> None:
    port = int(sim.base_url.rsplit(":", 1)[1])
    async with counting_relay(port) as (url, accepted):
        settings = simulator_settings(sim, base_url=url)
        transport = LazyHTTPTransport(proxies={})
        async with AtlasClient(settings, transport=transport) as client:
            job = await client.generate("video", "minimax/hailuo-02/t2v-standard", {"prompt": "a"})
            for _ in range(3):
                await client.get_prediction(job.id)
            polls_opened = accepted[0] - 1
            before = accepted[0]
            await client.generate("video", "minimax/hailuo-02/t2v-standard", {"prompt": "b"})
            await client.generate("video", "minimax/hailuo-02/t2v-standard", {"prompt": "c"})
            posts_opened = accepted[0] - before
    assert polls_opened == 1  # three GETs, one kept-alive connection
    assert posts_opened == 2  # never the GETs' connection, never each other's


async def test_plain_http_loads_no_trust_store_and_https_loads_it_off_the_event_loop(
    sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first tool call must not stall the event loop ~330 ms reading the CA bundle:
    an http:// Atlas (the simulator, a local proxy) never needs it, and for https it is
    read in a worker thread while the loop keeps answering the client."""
    loaded_on: list[int] = []
    real = httpx2.create_ssl_context

    def recording(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        if kwargs.get("verify", True) is not False:
            loaded_on.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(httpx2, "create_ssl_context", recording)
    monkeypatch.setattr("httpx2._transports.default.create_ssl_context", recording)
    transport = LazyHTTPTransport(proxies={})
    async with httpx2.AsyncClient(transport=transport) as http:
        answer = await http.get(f"{sim.base_url}/api/v1/models")
        assert answer.status_code == 200
        assert loaded_on == []  # plain http: no trust store
        with pytest.raises(httpx2.ConnectError):  # nothing listens there: loopback, refused
            await http.get(f"https://127.0.0.1:{free_port()}/api/v1/models")
    assert loaded_on and threading.get_ident() not in loaded_on


async def test_warm_builds_the_transport_of_gets_ahead_in_a_thread_of_its_own(
    sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server warms its transport as it starts: the first tool call's GET finds it
    built (importing httpcore2, building the pool) instead of building it then."""
    built_on: list[str] = []
    real_init = httpx2.AsyncHTTPTransport.__init__

    def recording(self: httpx2.AsyncHTTPTransport, *args: Any, **kwargs: Any) -> None:
        built_on.append(threading.current_thread().name)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(httpx2.AsyncHTTPTransport, "__init__", recording)
    transport = LazyHTTPTransport(proxies={})
    transport.warm(sim.base_url).join(timeout=30)
    assert built_on == ["atlas-transport-warm"]
    async with httpx2.AsyncClient(transport=transport) as http:
        assert (await http.get(f"{sim.base_url}/api/v1/models")).status_code == 200
        assert built_on == ["atlas-transport-warm"]  # the GET found it built
        await http.post(f"{sim.base_url}/api/v1/model/uploadMedia")  # a POST: its own
    assert len(built_on) == 2 and built_on[1] != "atlas-transport-warm"


async def test_a_warm_up_that_fails_leaves_the_error_to_the_request_that_needs_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    transport = LazyHTTPTransport(proxies={})
    transport.warm("https://127.0.0.1:1/").join(timeout=30)  # only logged
    async with httpx2.AsyncClient(transport=transport) as http:
        with pytest.raises(ConfigError, match="SSL_CERT_FILE"):
            await http.get(f"https://127.0.0.1:{free_port()}/api/v1/models")
