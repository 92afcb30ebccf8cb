"""The streamable HTTP transport: a real uvicorn server on 127.0.0.1 (in a thread), driven by
the SDK's HTTP client in both protocol eras and by raw requests, against the simulator."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import pytest
from helpers import MODES, assert_polling_stopped, simulator_settings
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from atlas_mcp_py.config import Settings
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.server.http import GracefulServer, HttpOptions, bind_socket, create_uvicorn_server
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer

pytestmark = pytest.mark.anyio

TOKEN = "team-token-0123456789"
POLL = 0.05
ACCEPT = "application/json, text/event-stream"


@dataclass
class Running:
    url: str
    base: str
    server: GracefulServer
    thread: threading.Thread

    def stop(self) -> float:
        """Ask the server to shut down (as SIGTERM does); the seconds it took to exit."""
        started = time.monotonic()
        self.server.should_exit = True
        self.thread.join(15)
        assert not self.thread.is_alive(), "the HTTP server did not stop"
        return time.monotonic() - started


@contextmanager
def http_server(settings: Settings, host: str = "127.0.0.1") -> Iterator[Running]:
    """The real app under uvicorn on a free port of 127.0.0.1, in a background thread."""
    server = create_uvicorn_server(
        build_server(settings, over_http=True),
        settings,
        HttpOptions(host=host, port=0, shutdown_grace=5),
    )
    sock = bind_socket("127.0.0.1", 0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the HTTP server did not start"
        time.sleep(0.005)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    running = Running(url=f"{base}/mcp", base=base, server=server, thread=thread)
    try:
        yield running
    finally:
        if thread.is_alive():
            running.stop()
        sock.close()


def make_settings(sim: SimulatorServer, **overrides: Any) -> Settings:
    """The shared simulator settings (no roots), with the bearer token, polling every POLL."""
    values = {"http_token": TOKEN, "poll_min_seconds": POLL, "poll_max_seconds": POLL}
    return simulator_settings(sim, **{**values, **overrides})


@asynccontextmanager
async def mcp_client(url: str, mode: str, token: str | None = TOKEN) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


def initialize_body() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }


def raw_headers(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Accept": ACCEPT, **extra}


@pytest.mark.parametrize("mode", MODES)
async def test_tools_list_and_a_generate_with_live_progress_work_over_http(
    sim: SimulatorServer, mode: str
) -> None:
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    with http_server(make_settings(sim)) as running:
        async with mcp_client(running.url, mode) as client:
            assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
            tools = await client.list_tools()
            with anyio.fail_after(20):
                result = await client.call_tool(
                    "atlas_generate_video",
                    {"prompt": "a lighthouse"},
                    progress_callback=on_progress,
                )
    assert {t.name for t in tools.tools} >= {
        "atlas_list_models",
        "atlas_upload_media",
        "atlas_generate_video",
        "atlas_check_status",
    }
    data = result.structured_content
    assert not result.is_error and data is not None
    assert data["status"] == "completed" and data["video_url"]
    values = [u[0] for u in updates]
    assert len(values) >= 2 and values == sorted(set(values)), values
    assert any("completed" in (u[2] or "") for u in updates)


async def test_requests_without_a_token_get_401_with_a_bearer_challenge(
    sim: SimulatorServer,
) -> None:
    with http_server(make_settings(sim)) as running:
        async with httpx2.AsyncClient() as http:
            response = await http.post(
                running.url, json=initialize_body(), headers={"Accept": ACCEPT}
            )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.json()["error_description"]
    assert sim.state.requests == []  # nothing reached Atlas


async def test_a_wrong_token_gets_401_and_never_reaches_the_mcp_server(
    sim: SimulatorServer,
) -> None:
    with http_server(make_settings(sim)) as running:
        async with httpx2.AsyncClient() as http:
            wrong = await http.post(
                running.url,
                json=initialize_body(),
                headers={"Authorization": f"Bearer {TOKEN}x", "Accept": ACCEPT},
            )
            basic = await http.post(
                running.url,
                json=initialize_body(),
                headers={"Authorization": f"Basic {TOKEN}", "Accept": ACCEPT},
            )
            right = await http.post(running.url, json=initialize_body(), headers=raw_headers())
    assert wrong.status_code == basic.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert "mcp-session-id" not in wrong.headers
    assert right.status_code == 200 and right.headers["mcp-session-id"]


async def test_health_check_needs_no_token_and_says_only_that_it_is_alive(
    sim: SimulatorServer,
) -> None:
    with http_server(make_settings(sim)) as running:
        async with httpx2.AsyncClient() as http:
            health = await http.get(f"{running.base}/healthz")
            other = await http.get(f"{running.base}/anything-else")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert other.status_code == 401  # only the health check is open


@pytest.mark.parametrize("era", ["2025-11-25", "2026-07-28"])
async def test_a_foreign_host_header_gets_421(sim: SimulatorServer, era: str) -> None:
    with http_server(make_settings(sim)) as running:
        async with httpx2.AsyncClient() as http:
            response = await http.post(
                running.url,
                json=initialize_body(),
                headers=raw_headers(Host="evil.example", **{"MCP-Protocol-Version": era}),
            )
    assert response.status_code == 421


@pytest.mark.parametrize("era", ["2025-11-25", "2026-07-28"])
async def test_a_foreign_origin_gets_403(sim: SimulatorServer, era: str) -> None:
    with http_server(make_settings(sim)) as running:
        async with httpx2.AsyncClient() as http:
            response = await http.post(
                running.url,
                json=initialize_body(),
                headers=raw_headers(Origin="http://evil.example", **{"MCP-Protocol-Version": era}),
            )
    assert response.status_code == 403


async def test_hosts_and_origins_on_the_allow_lists_are_accepted_on_a_public_bind(
    sim: SimulatorServer,
) -> None:
    settings = make_settings(
        sim,
        allowed_hosts=("mcp.example.com",),
        allowed_origins=("https://app.example.com",),
    )
    with http_server(settings, host="0.0.0.0") as running:
        async with httpx2.AsyncClient() as http:

            async def status(**headers: str) -> int:
                response = await http.post(
                    running.url, json=initialize_body(), headers=raw_headers(**headers)
                )
                return response.status_code

            listed = await status(Host="mcp.example.com", Origin="https://app.example.com")
            listed_port = await status(Host="mcp.example.com:8443")
            loopback = await status()
            foreign_host = await status(Host="evil.example")
            foreign_origin = await status(Host="mcp.example.com", Origin="https://evil.example")
    assert (listed, listed_port, loopback) == (200, 200, 200)
    assert (foreign_host, foreign_origin) == (421, 403)


@pytest.mark.parametrize("mode", MODES)
async def test_the_clients_token_never_reaches_atlas_only_the_atlas_key_does(
    sim: SimulatorServer, mode: str
) -> None:
    with http_server(make_settings(sim)) as running:
        async with mcp_client(running.url, mode) as client:
            with anyio.fail_after(20):
                await client.call_tool("atlas_list_models", {})
                result = await client.call_tool("atlas_generate_video", {"prompt": "a fox"})
    assert not result.is_error
    seen = sim.state.requests
    assert {r.endpoint for r in seen} >= {"models", "generate", "prediction"}
    assert all(r.authorized for r in seen if r.endpoint in ("generate", "prediction"))
    assert all(r.credential in (None, SIMULATOR_API_KEY) for r in seen)  # never TOKEN


async def _generate(client: Client, sim: SimulatorServer, polled: anyio.Event) -> CallToolResult:
    """Start a generate; `polled` is set once the server is waiting and has polled twice."""

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if not polled.is_set():
            # the simulator's request log has no event to wait on
            while sim.state.count("prediction") < 2:  # noqa: ASYNC110
                await anyio.sleep(POLL / 5)
            polled.set()

    return await client.call_tool(
        "atlas_generate_video", {"prompt": "x"}, progress_callback=on_progress
    )


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_that_cancels_mid_wait_stops_the_polling(
    slow_sim: SimulatorServer, mode: str
) -> None:
    """2026: the client closes the response stream; 2025: it sends notifications/cancelled."""
    with http_server(make_settings(slow_sim)) as running:
        async with mcp_client(running.url, mode) as client:
            polling = anyio.Event()
            with anyio.fail_after(20), anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_generate, client, slow_sim, polling)
                    await polling.wait()
                    scope.cancel()
        (job,) = slow_sim.state.jobs()
        assert slow_sim.state.count("prediction", job.id) >= 1
        await assert_polling_stopped(slow_sim, job.id, POLL)


async def test_a_2025_client_that_drops_the_connection_mid_wait_stops_the_polling(
    slow_sim: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    """No notifications/cancelled, no DELETE: the POST's stream just goes away."""
    caplog.set_level(logging.INFO, logger="atlas_mcp_py.server.http_gate")
    with http_server(make_settings(slow_sim)) as running:
        async with httpx2.AsyncClient(headers=raw_headers()) as http:
            opened = await http.post(running.url, json=initialize_body())
            session = {
                "mcp-session-id": opened.headers["mcp-session-id"],
                "mcp-protocol-version": "2025-11-25",
            }
            await http.post(
                running.url,
                json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers=session,
            )
            call = {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {
                    "name": "atlas_generate_video",
                    "arguments": {"prompt": "x"},
                    "_meta": {"progressToken": "p"},
                },
            }
            with anyio.fail_after(20):
                async with http.stream("POST", running.url, json=call, headers=session) as stream:
                    assert stream.headers["content-type"].startswith("text/event-stream")
                    async for line in stream.aiter_lines():
                        if line.startswith("data:"):
                            break  # leave mid-stream: the connection is closed
            (job,) = slow_sim.state.jobs()
            await assert_polling_stopped(slow_sim, job.id, POLL)
    assert [r for r in caplog.records if "dropped request 7 mid-answer" in r.getMessage()]


async def test_answers_that_arrive_whole_trigger_no_cancellation(
    sim: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The disconnect watcher acts only on streams cut short, never on complete answers."""
    caplog.set_level(logging.INFO, logger="atlas_mcp_py.server.http_gate")
    with http_server(make_settings(sim)) as running:
        async with mcp_client(running.url, "legacy") as client:
            with anyio.fail_after(20):
                first = await client.call_tool("atlas_generate_video", {"prompt": "one"})
                assert first.structured_content is not None
                again = await client.call_tool(
                    "atlas_check_status",
                    {"prediction_id": first.structured_content["prediction_id"]},
                )
    assert not first.is_error and not again.is_error
    assert again.structured_content is not None
    assert again.structured_content["status"] == "completed"
    assert not [r for r in caplog.records if "mid-answer" in r.getMessage()]


@pytest.mark.parametrize("mode", MODES)
async def test_shutdown_mid_wait_hands_the_job_back_then_the_server_stops(
    slow_sim: SimulatorServer, mode: str
) -> None:
    with http_server(make_settings(slow_sim)) as running:
        async with mcp_client(running.url, mode) as client:
            polling = anyio.Event()
            outcome: list[CallToolResult] = []

            await client.list_tools()  # cached: the client re-lists after a call otherwise

            async def call() -> None:
                outcome.append(await _generate(client, slow_sim, polling))

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call)
                    await polling.wait()
                    took = await anyio.to_thread.run_sync(running.stop)
    (result,) = outcome
    data = result.structured_content
    assert not result.is_error and data is not None
    (job,) = slow_sim.state.jobs()
    assert data["status"] == "processing" and data["prediction_id"] == job.id
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert "atlas_check_status" in text and "shutting down" in text
    assert took < 5


async def test_the_token_stays_out_of_the_401_body_and_headers(sim: SimulatorServer) -> None:
    with http_server(make_settings(sim)) as running:
        async with httpx2.AsyncClient() as http:
            response = await http.post(
                running.url,
                json=initialize_body(),
                headers={"Authorization": f"Bearer {TOKEN[:-1]}", "Accept": ACCEPT},
            )
    assert response.status_code == 401
    assert TOKEN[:-1] not in response.text
    assert TOKEN[:-1] not in json.dumps(dict(response.headers))
