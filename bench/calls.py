"""Call overhead (issue item 3): `atlas_list_models` with a warm catalog cache.

The catalog is fetched once from the bundled simulator, then the tool is called 1,000
times in a row (no API request: the answer comes from the cache), and each call is timed
from the client's `call_tool` to its result, so the figure is what the MCP plumbing and
our tool code cost per call:

- in-memory: the SDK's `Client` on the server object, as tests/integration do, in both
  protocol eras (`auto` speaks 2026-07-28 through the SDK's direct dispatcher; `legacy`
  speaks 2025-11-25 JSON-RPC messages over in-memory streams). Target: p50 under 2 ms;
- over stdio: the real server subprocess (`python -m atlas_mcp_py`) driven by the SDK
  client, which adds the pipe, JSON encoding both ways, and the client's own parsing.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from atlas_mcp_py.config import Settings
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer, SimulatorState
from bench.common import Measurement, median, percentile, quiet_logging, server_env, stdio_server

NAME = "calls"
TARGET_P50_MS = 2.0
ARGUMENTS: dict[str, Any] = {}  # the defaults: video models, 20 at most


async def timed_calls(client: Client, calls: int) -> list[float]:
    """Seconds per call of `calls` back-to-back calls, after a warm-up that fills the
    catalog cache (and whatever the client caches, such as the tool list)."""
    for _ in range(20):
        result = await client.call_tool("atlas_list_models", ARGUMENTS)
        if result.is_error:
            raise RuntimeError(f"atlas_list_models failed: {result.content}")
    times: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        await client.call_tool("atlas_list_models", ARGUMENTS)
        times.append(time.perf_counter() - started)
    return times


async def in_memory(sim: SimulatorServer, root: Path, mode: str, calls: int) -> list[float]:
    settings = Settings(
        api_key=SIMULATOR_API_KEY,
        base_url=sim.base_url,
        roots=(root,),
        state_dir=root / ".state",
        log_level="WARNING",
    )
    async with Client(build_server(settings), mode=mode) as client:
        return await timed_calls(client, calls)


async def over_stdio(sim: SimulatorServer, root: Path, calls: int) -> list[float]:
    async with stdio_server(server_env(sim.base_url, root)) as server:
        return await timed_calls(server.client, calls)


def _figure(label: str, times: list[float], target: bool) -> list[Measurement]:
    p50 = round(median(times) * 1000, 3)
    p99 = round(percentile(times, 99) * 1000, 3)
    detail = {"calls": len(times), "mean_ms": round(sum(times) / len(times) * 1000, 3)}
    return [
        Measurement(
            NAME,
            f"atlas_list_models p50, {label}",
            p50,
            "ms",
            target=f"< {TARGET_P50_MS:g} ms" if target else None,
            ok=p50 < TARGET_P50_MS if target else None,
            detail=detail,
        ),
        Measurement(NAME, f"atlas_list_models p99, {label}", p99, "ms", detail=detail),
    ]


def run(quick: bool) -> list[Measurement]:
    quiet_logging()
    calls = 200 if quick else 1000
    results: list[Measurement] = []
    with (
        tempfile.TemporaryDirectory(prefix="atlas-bench-calls-") as tmp,
        SimulatorServer(SimulatorState()) as sim,
    ):
        root = Path(tmp)
        for mode, label in (("auto", "in-memory 2026-07-28"), ("legacy", "in-memory 2025-11-25")):
            times = anyio.run(in_memory, sim, root, mode, calls)
            results += _figure(label, times, target=True)
        times = anyio.run(over_stdio, sim, root, calls)
        results += _figure("stdio subprocess (SDK client, 2026-07-28)", times, target=False)
    return results
