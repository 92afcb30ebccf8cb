"""An HTTP server under a session flood and a slowloris crowd: does it hold, what does it cost?

`atlas-mcp serve --transport http` as a subprocess on 127.0.0.1 (defaults for every limit):

- flood: `initialize` calls from one address (10,000; 2,000 with --quick), 8 at a time,
  never closed, as a buggy or hostile client sends them. Measured: the server's resident
  memory after the flood, how many calls were refused, and whether a client from another
  address (127.0.0.2) can still open a session and call a tool;
- slowloris: 500 connections that send a request line, then one header byte every 2 s.
  Measured: how many the server still holds 30 s later, and /healthz meanwhile.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import anyio
import httpx2

from atlas_mcp_py.simulator import SimulatorServer, SimulatorState
from bench.common import Measurement, server_env

NAME = "sessions"
TOKEN = "bench-token-0123456789abcdef"
SLOW_SOCKETS = 500
SLOW_WATCH_SECONDS = 30.0


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _initialize() -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "flood", "version": "0"},
        },
    }


HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"}


async def _wait_healthy(base: str) -> None:
    async with httpx2.AsyncClient() as http:
        with anyio.fail_after(60):
            while True:
                try:
                    if (await http.get(f"{base}/healthz")).status_code == 200:
                        return
                except httpx2.TransportError:
                    pass
                await anyio.sleep(0.1)


async def _flood(url: str, count: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    transport = httpx2.AsyncHTTPTransport(local_address="127.0.0.1")
    async with httpx2.AsyncClient(transport=transport, timeout=60) as http:

        async def worker(n: int) -> None:
            for _ in range(n):
                response = await http.post(url, json=_initialize(), headers=HEADERS)
                statuses[response.status_code] += 1

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(worker, count // 8)
    return statuses


async def _neighbour(url: str) -> int:
    """The status a client from 127.0.0.2 gets for initialize, then for tools/list."""
    transport = httpx2.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx2.AsyncClient(transport=transport, timeout=60) as http:
        first = await http.post(url, json=_initialize(), headers=HEADERS)
        if first.status_code != 200:
            return first.status_code
        headers = {
            **HEADERS,
            "Mcp-Session-Id": first.headers["mcp-session-id"],
            "MCP-Protocol-Version": "2025-11-25",
        }
        listed = await http.post(
            url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=headers
        )
        return listed.status_code


async def _slowloris(port: int, base: str) -> tuple[int, float]:
    """Connections still open after SLOW_WATCH_SECONDS, and the slowest /healthz meanwhile."""
    open_now = 0
    slowest = 0.0

    async def slow_client() -> None:
        nonlocal open_now
        try:
            stream = await anyio.connect_tcp("127.0.0.1", port)
        except OSError:
            return
        open_now += 1
        try:
            async with stream:
                await stream.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                while True:
                    with anyio.move_on_after(2):
                        await stream.receive()  # data or end: the server gave up on us
                        return
                    await stream.send(b"X")
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            return
        finally:
            open_now -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(SLOW_SOCKETS):
            tg.start_soon(slow_client)
        async with httpx2.AsyncClient(timeout=30) as http:
            deadline = time.monotonic() + SLOW_WATCH_SECONDS
            while time.monotonic() < deadline:
                started = time.monotonic()
                await http.get(f"{base}/healthz")
                slowest = max(slowest, time.monotonic() - started)
                await anyio.sleep(1)
        still_open = open_now
        tg.cancel_scope.cancel()
    return still_open, slowest


async def _run(quick: bool) -> list[Measurement]:
    count = 2000 if quick else 10_000
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    results: list[Measurement] = []
    with (
        SimulatorServer(SimulatorState(job_seconds=1)) as sim,
        tempfile.TemporaryDirectory(prefix="atlas-bench-sessions-") as tmp,
    ):
        env = server_env(sim.base_url, Path(tmp), ATLAS_MCP_HTTP_TOKEN=TOKEN)
        command = [sys.executable, "-m", "atlas_mcp_py", "serve", "--transport", "http"]
        command += ["--port", str(port)]
        process = await anyio.open_process(command, env=env, stdout=None, stderr=None)
        try:
            await _wait_healthy(base)
            idle_rss = _rss_mib(process.pid)
            started = time.monotonic()
            statuses = await _flood(f"{base}/mcp", count)
            flood_seconds = time.monotonic() - started
            flooded_rss = _rss_mib(process.pid)
            neighbour = await _neighbour(f"{base}/mcp")
            still_open, slowest_health = await _slowloris(port, base)
        finally:
            process.terminate()
            with anyio.move_on_after(20):
                await process.wait()
            if process.returncode is None:
                process.kill()
    refused = sum(n for status, n in statuses.items() if status != 200)
    results += [
        Measurement(NAME, "server RSS before the flood", idle_rss, "MB"),
        Measurement(
            NAME,
            f"server RSS after {count:,} initialize calls from one address",
            flooded_rss,
            "MB",
            target="< 150 MB",
            ok=flooded_rss < 150,
            detail={"statuses": dict(statuses), "seconds": round(flood_seconds, 1)},
        ),
        Measurement(NAME, "flood calls refused (429)", refused, "calls"),
        Measurement(
            NAME,
            "then: a client from another address, tools/list status",
            neighbour,
            "status",
            target="200",
            ok=neighbour == 200,
        ),
        Measurement(
            NAME,
            f"slowloris: of {SLOW_SOCKETS} connections, still open after {SLOW_WATCH_SECONDS:g} s",
            still_open,
            "connections",
            target="0",
            ok=still_open == 0,
        ),
        Measurement(NAME, "slowloris: slowest /healthz meanwhile", slowest_health * 1000, "ms"),
    ]
    return results


def run(quick: bool) -> list[Measurement]:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return anyio.run(_run, quick)
