"""Two server processes sharing one job ledger (two IDE windows) pay once for one request.

The duplicate check and the ledger row of the request about to be sent are one SQLite
transaction across processes: of two servers sending the identical request at the same
instant, one POSTs, the other finds its row, waits for its answer and returns that job.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from helpers import stdio_env, stdio_params, structured, text_of
from mcp import Client

from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio

ROUNDS = int(os.environ.get("ATLAS_TEST_RACE_ROUNDS", "12"))
"""Identical-request races per run (each a new request); before the fix every one POSTed
twice."""


async def call(
    client: Client, arguments: dict[str, Any], go: anyio.Event, results: dict[int, Any], index: int
) -> None:
    await go.wait()
    results[index] = await client.call_tool("atlas_generate_video", arguments)


async def test_two_servers_sending_the_same_request_at_once_pay_once(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    root, state = tmp_path / "project", tmp_path / "state"
    root.mkdir()
    params = stdio_params(stdio_env(sim, root, state, ATLAS_MCP_LOG_LEVEL="WARNING"), root)
    doubled: list[int] = []
    refused: list[str] = []
    with anyio.fail_after(120):
        async with Client(params) as first, Client(params) as second:
            for round_ in range(ROUNDS):
                before = sim.state.count("generate")
                go = anyio.Event()
                results: dict[int, Any] = {}

                arguments = {"prompt": f"a lighthouse, take {round_}", "wait": False}

                async with anyio.create_task_group() as tg:
                    tg.start_soon(call, first, arguments, go, results, 0)
                    tg.start_soon(call, second, arguments, go, results, 1)
                    await anyio.lowlevel.checkpoint()  # both calls wait on `go`
                    go.set()
                posts = sim.state.count("generate") - before
                if posts != 1:
                    doubled.append(round_)
                refused += [text_of(r) for r in results.values() if r.is_error]
                ids = {structured(r)["prediction_id"] for r in results.values() if not r.is_error}
                assert len(ids) <= posts, (round_, ids, posts)
    # both calls answered with the one job: neither paid twice nor refused the twin
    assert (len(doubled), len(refused)) == (0, 0), (
        f"{len(doubled)}/{ROUNDS} rounds POSTed twice, {len(refused)} calls refused: {refused[:1]}"
    )
    with Ledger.open(Ledger.default_path(state)) as ledger:
        rows = ledger.recent(100)
    assert len(rows) == ROUNDS and all(row.prediction_id for row in rows)
