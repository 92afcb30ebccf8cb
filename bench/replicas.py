"""Replicas: N `atlas_generate_video` calls spread over 3 HTTP replicas on one PostgreSQL.

The team stack as tests/cluster.py starts it: PostgreSQL (Debian's, tests/services.py),
3 replicas of `atlas-mcp serve --transport http` sharing it as their job ledger, HAProxy
in front (round-robin), the simulator in this process. 20 clients (users in a tokens
file), each with its own HTTP connection pool, send their share of N calls at once
(distinct prompts, so the duplicate guard merges none), each waiting for its job.
Measured for each `ATLAS_MCP_MAX_IN_FLIGHT` tried:

- wall time from the first call to the last result, against one job's length;
- the replicas' CPU (user + system, /proc, all 3) per job;
- p50 and p99 of the calls' time to result, and of that time minus the job's length
  (what the stack adds);
- peak PostgreSQL client connections (pg_stat_activity, sampled every 0.2 s).

`--quick`: 200 calls of 10 s jobs at the default only; full: 1,000 calls of 20 s jobs
at in-flight limits 4 and 16.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from atlas_mcp_py.server.users import add_token
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer, SimulatorState
from bench.common import REPO, Measurement, cpu_seconds, median, percentile

sys.path.insert(0, str(REPO / "tests"))  # the test suite's PostgreSQL and cluster helpers
from cluster import Cluster, run_cluster
from services import PostgresServer, haproxy_binary, run_postgres

NAME = "replicas"
CLIENTS = 20
REPLICAS = 3


class PeakConnections:
    """Samples PostgreSQL's client connections in a thread; `peak` is the highest seen."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self.server.connections())


async def _burst(cluster: Cluster, tokens: list[str], calls: int, job_s: float) -> list[float]:
    """`calls` generate calls through the balancer, spread over the clients; each
    call's time to its result."""
    durations: list[float] = []
    statuses: list[str | None] = []
    errors: list[str] = []

    async def agent(token: str, share: range) -> None:
        limits = httpx2.Limits(max_connections=len(share) + 4, max_keepalive_connections=64)
        async with (
            httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {token}"},
                timeout=httpx2.Timeout(60, read=600),
                limits=limits,
            ) as http,
            Client(streamable_http_client(cluster.url, http_client=http)) as client,
        ):

            async def one(index: int) -> None:
                started = time.monotonic()
                result = await client.call_tool(
                    "atlas_generate_video",
                    {
                        "prompt": f"replicas bench clip {index} [sim:seconds={job_s:g}]",
                        "max_wait_seconds": 600,
                    },
                )
                durations.append(time.monotonic() - started)
                statuses.append((result.structured_content or {}).get("status"))
                if result.is_error and len(errors) < 3:
                    errors.append(" ".join(getattr(b, "text", "") for b in result.content))

            async with anyio.create_task_group() as tg:
                for index in share:
                    tg.start_soon(one, index)

    per = -(-calls // len(tokens))
    with anyio.fail_after(900):
        async with anyio.create_task_group() as tg:
            for n, token in enumerate(tokens):
                tg.start_soon(agent, token, range(n * per, min(calls, (n + 1) * per)))
    done = sum(1 for s in statuses if s == "completed")
    if done != calls:
        raise RuntimeError(f"{done} of {calls} calls completed: {errors}")
    return durations


def _run_one(
    pg: PostgresServer, in_flight: int, calls: int, job_s: float, workdir: Path
) -> list[Measurement]:
    tokens_file = workdir / f"tokens-{in_flight}"
    tokens = [add_token(tokens_file, f"user{n}") for n in range(CLIENTS)]
    state = SimulatorState(balance_usd=1e9)
    with (
        SimulatorServer(state) as sim,
        run_cluster(
            haproxy_binary(),
            REPLICAS,
            base_url=sim.base_url,
            api_key=SIMULATOR_API_KEY,
            database_url=pg.new_database(),
            tokens=tokens_file,
            ATLAS_MCP_MAX_IN_FLIGHT=str(in_flight),
            ATLAS_MCP_LOG_LEVEL="WARNING",
            ATLAS_MCP_POLL_MIN="1",
            ATLAS_MCP_POLL_MAX="5",
            ATLAS_MCP_HEARTBEAT="5",
        ) as cluster,
    ):
        pids = [r.process.pid for r in cluster.replicas]
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        with PeakConnections(pg) as connections:
            started = time.monotonic()
            durations = anyio.run(_burst, cluster, tokens, calls, job_s)
            wall = time.monotonic() - started
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        posts = state.count("generate")
        polls = state.count("prediction")
    state.close()
    added = [d - job_s for d in durations]
    label = f"MIF={in_flight}"
    detail: dict[str, Any] = {
        "calls": calls,
        "replicas": REPLICAS,
        "clients": CLIENTS,
        "job_s": job_s,
        "wall_s": round(wall, 1),
        "posts": posts,
        "polls_per_job": round(polls / calls, 2),
        "cpu_s": round(cpu, 1),
    }
    return [
        Measurement(
            NAME, f"{label}: wall / one job", round(wall / job_s, 2), "x", None, None, detail
        ),
        Measurement(NAME, f"{label}: replica CPU per job", round(1000 * cpu / calls, 1), "ms"),
        Measurement(NAME, f"{label}: call p50", round(median(durations), 2), "s"),
        Measurement(NAME, f"{label}: call p99", round(percentile(durations, 99), 2), "s"),
        Measurement(NAME, f"{label}: added p50", round(median(added), 2), "s"),
        Measurement(NAME, f"{label}: added p99", round(percentile(added, 99), 2), "s"),
        Measurement(NAME, f"{label}: peak PostgreSQL connections", connections.peak, "connections"),
    ]


def run(
    quick: bool,
    *,
    calls: int | None = None,
    limits: tuple[int, ...] | None = None,
    job_seconds: float | None = None,
) -> list[Measurement]:
    count = calls or (200 if quick else 1000)
    job_s = job_seconds or (10.0 if quick else 20.0)
    chosen = limits or ((4,) if quick else (4, 16))
    results: list[Measurement] = []
    with run_postgres() as pg, tempfile.TemporaryDirectory(prefix="atlas-bench-replicas-") as tmp:
        for in_flight in chosen:
            results.extend(_run_one(pg, in_flight, count, job_s, Path(tmp)))
    return results


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description="the replicas bench alone")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--in-flight", type=int, action="append")
    parser.add_argument("--job-seconds", type=float)
    args = parser.parse_args()
    found = run(
        True, calls=args.calls, limits=tuple(args.in_flight or [4]), job_seconds=args.job_seconds
    )
    print(json.dumps([m.as_dict() for m in found], indent=1))
