"""Connections: a billed POST never rides a kept-alive connection (the server may close
it while the request is on its way, which would make the outcome unknown); polls do reuse
theirs. Counted by a TCP relay on loopback in front of the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from helpers import pipe, simulator_settings, tcp_server

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.transport import LazyHTTPTransport
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
