"""Concurrency: 100 simultaneous `atlas_generate_video` calls on one stdio connection.

One fresh server (`python -m atlas_mcp_py` over stdio, an empty job ledger) against the
simulator in this process. After one `atlas_list_models` call (what an agent does first;
it also takes the server's start-up out of the CPU figure), 100 calls (`--quick`: 40)
with distinct prompts (so the duplicate guard does not merge them), each with a progress
token and a simulated 10 s job (`--quick`: 5 s), are sent at once. Measured:

- how many completed (all must);
- wall time from sending the first call to the last result, against one job's time;
- the server's peak RSS (`VmHWM` in /proc, the whole life of the process);
- the server's CPU time (user + system, /proc) spent during the burst, as a share of the
  burst's wall time;
- the same share for the floor (`bench/sdk_floor.py`): a trivial server on the same SDK
  whose tool only sleeps out the job, sends as many progress notifications and makes as
  many HTTP requests per call as ours did, with the same 100 calls at once. What our
  server spends above it is ours to cut; the floor itself is the SDK's and httpx2's.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from atlas_mcp_py.simulator import SimulatorServer, SimulatorState
from bench.common import (
    REPO,
    Measurement,
    cpu_seconds,
    median,
    peak_rss_mib,
    server_env,
    stdio_server,
)

NAME = "concurrency"
MB_PER_MIB = 1.048576


async def _measure(quick: bool) -> list[Measurement]:
    calls = 40 if quick else 100
    job_seconds = 5.0 if quick else 10.0
    state = SimulatorState(balance_usd=10_000.0)
    returned: list[float] = []
    statuses: list[str | None] = []
    progress: list[int] = []
    with tempfile.TemporaryDirectory(prefix="atlas-bench-concurrency-") as tmp:
        async with SimulatorServer(state) as sim:
            env = server_env(sim.base_url, Path(tmp))
            async with stdio_server(env) as server:
                client = server.client
                await client.call_tool("atlas_list_models", {})
                cpu_before = cpu_seconds(server.pid)

                async def one(index: int) -> None:
                    count = 0

                    async def on_progress(value: float, total: float | None, msg: Any) -> None:
                        nonlocal count
                        count += 1

                    result = await client.call_tool(
                        "atlas_generate_video",
                        {
                            "prompt": f"concurrency bench clip {index}: waves on a pier "
                            f"[sim:seconds={job_seconds:g}]",
                            "max_wait_seconds": 90,
                        },
                        progress_callback=on_progress,
                    )
                    returned.append(time.monotonic())
                    statuses.append((result.structured_content or {}).get("status"))
                    progress.append(count)

                started = time.monotonic()
                with anyio.fail_after(180):
                    async with anyio.create_task_group() as tg:
                        for index in range(calls):
                            tg.start_soon(one, index)
                wall = max(returned) - started
                cpu = cpu_seconds(server.pid) - cpu_before
                peak_mb = peak_rss_mib(server.pid) * MB_PER_MIB
            polls = state.count("prediction")
            posts = state.count("generate")
            requests_per_call = round(polls / calls) + 1  # the polls and the POST
            notes = int(median(progress))
            floor = await _floor(sim.base_url, env, calls, job_seconds, notes, requests_per_call)
            bare = await _floor(sim.base_url, env, calls, job_seconds, notes, 0)
    state.close()
    completed = sum(1 for s in statuses if s == "completed")
    ratio = wall / job_seconds
    cpu_share = 100 * cpu / wall
    detail = {
        "calls": calls,
        "job_seconds": job_seconds,
        "generate_posts": posts,
        "prediction_polls": polls,
        "polls_per_job": round(polls / calls, 2),
        "median_result_s": round(median([t - started for t in returned]), 2),
        "progress_per_call_median": median(progress) if progress else 0,
    }
    return [
        Measurement(
            NAME,
            f"{calls} calls at once: completed",
            completed,
            "calls",
            f"{calls}",
            completed == calls,
            detail,
        ),
        Measurement(
            NAME,
            "wall time / one job's time",
            round(ratio, 2),
            "x",
            "<= 1.5x",
            ratio <= 1.5,
            {"wall_s": round(wall, 2), "job_s": job_seconds},
        ),
        Measurement(
            NAME, "server peak RSS (VmHWM)", round(peak_mb, 1), "MB", "< 150 MB", peak_mb < 150
        ),
        Measurement(
            NAME,
            "server CPU / wall time",
            round(cpu_share, 2),
            "%",
            "< 5 %",
            cpu_share < 5,
            {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2)},
        ),
        Measurement(
            NAME,
            "floor: bare SDK + httpx2 server",
            round(floor["cpu_share"], 2),
            "%",
            None,
            None,
            floor,
        ),
        Measurement(
            NAME,
            "floor without HTTP: SDK only",
            round(bare["cpu_share"], 2),
            "%",
            None,
            None,
            bare,
        ),
    ]


async def _floor(
    base_url: str,
    env: dict[str, str],
    calls: int,
    job_seconds: float,
    notifications: int,
    requests: int,
) -> dict[str, float]:
    """CPU share of the trivial server (bench/sdk_floor.py) under the same burst."""
    floor_env = {**env, "FLOOR_HTTP_URL": f"{base_url}/api/v1/models", "PYTHONPATH": str(REPO)}
    async with stdio_server(floor_env, module="bench.sdk_floor") as server:
        args = {"seconds": job_seconds, "notifications": notifications, "requests": requests}
        await server.client.call_tool("job", {**args, "seconds": 0.1})  # warm up
        cpu_before = cpu_seconds(server.pid)
        started = time.monotonic()

        async def one() -> None:
            async def on_progress(value: float, total: float | None, msg: Any) -> None:
                pass

            result = await server.client.call_tool("job", args, progress_callback=on_progress)
            if result.is_error:
                raise RuntimeError(f"the floor server failed: {result.content}")

        async with anyio.create_task_group() as tg:
            for _ in range(calls):
                tg.start_soon(one)
        wall = time.monotonic() - started
        cpu = cpu_seconds(server.pid) - cpu_before
    return {
        "cpu_share": round(100 * cpu / wall, 2),
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "notifications_per_call": notifications,
        "requests_per_call": requests,
    }


def run(quick: bool) -> list[Measurement]:
    return anyio.run(_measure, quick)
