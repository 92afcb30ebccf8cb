"""Completion latency: how soon after Atlas finishes a job the tool call returns, and how
many status polls the server spent on it.

The simulator runs in this process (`SimulatorServer`), so its clock is ours: a job's
completion time is the moment its scripted outcome falls due (`Job.outcome(...).at`, on
the same `time.monotonic()` this process reads when the tool call returns). The polls are
the `GET /prediction/{id}` requests the simulator recorded for that job.

Jobs of 5 s, 20 s and 60 s (5 of each; `--quick`: 3 of 8 s and 24 s), each duration
scattered by up to ±10 % (seeded) so no two jobs take exactly the same time, all on the
default model and all at once, through one stdio server with a progress token and a wait
budget above the longest job. Two rounds on the same server:

- **cold**: a fresh server and an empty job ledger: the server knows nothing about how
  long this model's jobs take (a model's first jobs on a machine);
- **warm**: the same jobs again (new durations, same scatter): the server has seen the
  cold round's jobs end.
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from atlas_mcp_py.simulator import SimulatorServer, SimulatorState
from bench.common import Measurement, median, percentile, server_env, stdio_server

NAME = "latency"
SCATTER = 0.10
MAX_WAIT = 150.0


@dataclass
class JobRun:
    nominal: float
    seconds: float
    prediction_id: str | None = None
    returned_at: float | None = None
    status: str | None = None
    progress: int = 0
    latency: float | None = None
    polls: int | None = None
    duration: float | None = None


async def _one(client: Any, job: JobRun, tag: str) -> None:
    prompt = f"latency bench {tag}: a lighthouse at dusk [sim:seconds={job.seconds:.3f}]"

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        job.progress += 1

    result = await client.call_tool(
        "atlas_generate_video",
        {"prompt": prompt, "max_wait_seconds": MAX_WAIT},
        progress_callback=on_progress,
    )
    job.returned_at = time.monotonic()
    data = result.structured_content or {}
    job.prediction_id = data.get("prediction_id")
    job.status = data.get("status")


def _settle(state: SimulatorState, jobs: list[JobRun]) -> None:
    """Read each job's completion time and poll count from the simulator."""
    now = state.now()
    for job in jobs:
        if job.prediction_id is None:
            continue
        record = state.job(job.prediction_id)
        outcome = record.outcome(now) if record is not None else None
        if record is None or outcome is None or job.returned_at is None:
            continue
        job.latency = job.returned_at - outcome.at
        job.duration = outcome.at - record.started
        job.polls = state.count("prediction", job.prediction_id)


def _round(jobs: list[JobRun], label: str) -> tuple[list[Measurement], dict[str, Any]]:
    done = [j for j in jobs if j.latency is not None and j.status == "completed"]
    if len(done) != len(jobs):
        raise RuntimeError(
            f"{label}: {len(jobs) - len(done)} of {len(jobs)} jobs did not complete: "
            f"{[(j.nominal, j.status) for j in jobs if j not in done]}"
        )
    latencies = [j.latency for j in done if j.latency is not None]
    # polls per 2 s of job time, per job, then averaged (short jobs weigh as much as long)
    rates = [2 * (j.polls or 0) / (j.duration or 1) for j in done]
    per_class: dict[str, Any] = {}
    for nominal in sorted({j.nominal for j in done}):
        group = [j for j in done if j.nominal == nominal]
        per_class[f"{nominal:g}s"] = {
            "latency_median_s": round(median([j.latency or 0 for j in group]), 3),
            "latency_max_s": round(max(j.latency or 0 for j in group), 3),
            "polls": [j.polls for j in group],
            "durations_s": [round(j.duration or 0, 2) for j in group],
            "progress_notifications": [j.progress for j in group],
        }
    detail = {"jobs": len(done), "per_class": per_class}
    med = median(latencies)
    rate = sum(rates) / len(rates)
    warm = label == "warm"
    results = [
        Measurement(
            NAME,
            f"{label}: completion to result, median",
            round(med, 3),
            "s",
            "< 1 s" if warm else None,
            (med < 1.0) if warm else None,
            detail,
        ),
        Measurement(
            NAME,
            f"{label}: completion to result, p90",
            round(percentile(latencies, 90), 3),
            "s",
        ),
        Measurement(
            NAME,
            f"{label}: polls per 2 s of job time",
            round(rate, 3),
            "polls/2s",
            "< 1",
            rate < 1.0,
            {"total_polls": sum(j.polls or 0 for j in done)},
        ),
    ]
    return results, detail


async def _measure(quick: bool) -> list[Measurement]:
    nominals = (8.0, 24.0) if quick else (5.0, 20.0, 60.0)
    per_class = 3 if quick else 5
    rng = random.Random(7)
    state = SimulatorState(balance_usd=10_000.0)
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="atlas-bench-latency-") as tmp:
        root = Path(tmp)
        async with SimulatorServer(state) as sim:
            env = server_env(
                sim.base_url,
                root,
                ATLAS_MCP_MAX_WAIT=str(MAX_WAIT + 30),
                ATLAS_MCP_MAX_IN_FLIGHT="64",
            )
            async with stdio_server(env) as server:
                for label in ("cold", "warm"):
                    jobs = [
                        JobRun(n, n * (1 + rng.uniform(-SCATTER, SCATTER)))
                        for n in nominals
                        for _ in range(per_class)
                    ]
                    with anyio.fail_after(MAX_WAIT + 60):
                        async with anyio.create_task_group() as tg:
                            for index, job in enumerate(jobs):
                                tg.start_soon(_one, server.client, job, f"{label} {index}")
                    _settle(state, jobs)
                    measured, _ = _round(jobs, label)
                    results.extend(measured)
    state.close()
    return results


def run(quick: bool) -> list[Measurement]:
    return anyio.run(_measure, quick)
