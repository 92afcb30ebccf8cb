"""Ledger (issue item 7): listing recent jobs with 10,000 rows recorded.

A fresh ledger in a temporary state dir is filled through the ledger's own API, as the
server fills it: `Ledger.add` writes each job (one `BEGIN IMMEDIATE` transaction,
synchronous=FULL, as for a real paid job) and `Ledger.update` records the outcome of the
finished ones (80 % completed with an output URL, 10 % failed, 8 % still processing,
2 % unknown), created over the last 30 days. Then:

- `Ledger.recent(20)`, what `atlas_list_jobs` runs by default (newest first), and with a
  state filter (`failed`, `unknown`: the index on created_at is walked and filtered),
  p50 and p99 of repeated calls;
- `atlas_list_jobs` itself through the SDK's in-memory client, which adds the worker
  thread hop, the summaries and the MCP plumbing.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.config import Settings
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.jobs.records import RecordState
from atlas_mcp_py.server.app import build_server
from bench.common import Measurement, median, percentile, quiet_logging

NAME = "ledger_bench"
ROWS = 10_000
API_ROOT = "https://api.atlascloud.ai"
MODELS = ["minimax/hailuo-02/fast", "kwaivgi/kling-v2.1-i2v-standard", "bytedance/seedance"]


def fill(ledger: Ledger, rows: int, seed: int = 7) -> float:
    """Record `rows` jobs; returns the seconds it took."""
    rng = random.Random(seed)
    now = time.time()
    started = time.perf_counter()
    for i in range(rows):
        prompt = f"job {i}: a red fox runs through snow at dawn, cinematic, slow motion"
        params = {"prompt": prompt, "duration": rng.choice([6, 10]), "resolution": "768P"}
        created = now - 30 * 86400 * (rows - i) / rows
        roll = rng.random()
        lost = roll >= 0.98  # the POST's answer never came: no prediction id
        record = ledger.add(
            model=rng.choice(MODELS),
            api_root=API_ROOT,
            params=params,
            params_hash=f"{i:064x}",
            prompt=prompt,
            estimated_cost_usd=0.27,
            prediction_id=None if lost else f"pred-{i:06d}",
            status="submitting" if lost else "processing",
            created_at=created,
        )
        if roll < 0.80:
            outputs = [f"https://cdn.example.com/pred-{i:06d}.mp4"]
            ledger.update(Prediction(id=f"pred-{i:06d}", status="completed", outputs=outputs))
        elif roll < 0.90:
            ledger.update(Prediction(id=f"pred-{i:06d}", status="failed", error="content policy"))
        elif lost:
            ledger.mark_unknown(record.ref, "the POST timed out")
        # else: still processing
    return time.perf_counter() - started


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    for _ in range(10):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


async def tool_calls(root: Path, repeats: int, arguments: dict[str, Any]) -> list[float]:
    settings = Settings(
        api_key="unused",
        base_url="http://127.0.0.1:9",  # listing jobs never calls the API
        roots=(root,),
        state_dir=root / ".state",
        log_level="WARNING",
    )
    async with Client(build_server(settings), mode="auto") as client:
        for _ in range(10):
            result = await client.call_tool("atlas_list_jobs", arguments)
            if result.is_error:
                raise RuntimeError(f"atlas_list_jobs failed: {result.content}")
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            await client.call_tool("atlas_list_jobs", arguments)
            times.append(time.perf_counter() - started)
    return times


def _pair(label: str, times: list[float], detail: dict[str, Any]) -> list[Measurement]:
    return [
        Measurement(NAME, f"{label} p50", round(median(times) * 1000, 3), "ms", detail=detail),
        Measurement(NAME, f"{label} p99", round(percentile(times, 99) * 1000, 3), "ms"),
    ]


def run(quick: bool) -> list[Measurement]:
    quiet_logging()
    repeats = 200 if quick else 1000
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="atlas-bench-ledger-") as tmp:
        root = Path(tmp)
        path = Ledger.default_path(root / ".state")
        with Ledger.open(path) as ledger:
            fill_seconds = fill(ledger, ROWS)
            rows = ledger.count()
            size = path.stat().st_size + Path(f"{path}-wal").stat().st_size
            results.append(
                Measurement(
                    NAME,
                    "rows recorded (Ledger.add, then update)",
                    rows,
                    "rows",
                    detail={
                        "seconds": round(fill_seconds, 1),
                        "ms_per_job": round(fill_seconds / rows * 1000, 2),
                        "file_bytes": size,
                    },
                )
            )
            filters: list[tuple[str, tuple[RecordState, ...] | None]] = [
                ("Ledger.recent(20), all states", None),
                ("Ledger.recent(20), state failed", ("failed",)),
                ("Ledger.recent(20), state unknown", ("unknown", "submitting")),
            ]
            for label, states in filters:
                times = timed(partial(ledger.recent, 20, state=states), repeats)
                results += _pair(label, times, {"repeats": repeats, "rows": rows})
        for label, arguments in (
            ("atlas_list_jobs in-memory, defaults (20 newest)", {}),
            ("atlas_list_jobs in-memory, limit 100", {"limit": 100}),
        ):
            times = anyio.run(tool_calls, root, repeats // 2, arguments)
            results += _pair(label, times, {"repeats": repeats // 2, "rows": rows})
    return results
