"""Three replicas of the HTTP server on one PostgreSQL ledger behind a real HAProxy
(tests/cluster.py; PostgreSQL and HAProxy from Debian, installed by the fixtures):
the same request on two replicas at the same instant is sent once, a replica killed
mid-wait loses nothing, and users stay apart whichever replica answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from cluster import Cluster, run_cluster
from helpers import structured, text_of
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from services import PostgresServer, haproxy_binary

from atlas_mcp_py.server.users import add_token
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer, SimulatorState

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

JOB_SECONDS = 4.0


@pytest.fixture
def job_sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorState(job_seconds=JOB_SECONDS)) as server:
        yield server


@pytest.fixture
def users(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "tokens"
    return path, {name: add_token(path, name) for name in ("ann", "bob")}


@pytest.fixture
def cluster(
    postgres: PostgresServer, job_sim: SimulatorServer, users: tuple[Path, dict[str, str]]
) -> Iterator[Cluster]:
    haproxy = haproxy_binary()
    with run_cluster(
        haproxy,
        3,
        base_url=job_sim.base_url,
        api_key=SIMULATOR_API_KEY,
        database_url=postgres.new_database(),
        tokens=users[0],
    ) as running:
        yield running


@asynccontextmanager
async def client(url: str, token: str, mode: str = "auto") -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as mcp,
    ):
        yield mcp


async def call(url: str, token: str, tool: str, arguments: dict[str, Any]) -> Any:
    async with client(url, token) as mcp:
        with anyio.fail_after(60):
            return await mcp.call_tool(tool, arguments)


async def test_the_same_request_on_two_replicas_at_the_same_instant_is_sent_once(
    cluster: Cluster, job_sim: SimulatorServer, users: tuple[Path, dict[str, str]]
) -> None:
    ann = users[1]["ann"]
    results: dict[str, Any] = {}
    arguments = {"prompt": "one lighthouse, two replicas", "wait": False}

    async def on(name: str, url: str) -> None:
        results[name] = await call(url, ann, "atlas_generate_video", arguments)

    async with anyio.create_task_group() as tg:  # two replicas directly: surely two
        tg.start_soon(on, "r1", cluster.replicas[0].url)
        tg.start_soon(on, "r2", cluster.replicas[1].url)
    ids = {structured(r)["prediction_id"] for r in results.values()}
    assert len(ids) == 1, [text_of(r) for r in results.values()]
    assert job_sim.state.count("generate") == 1

    async with anyio.create_task_group() as tg:
        for n in range(4):
            tg.start_soon(on, f"lb{n}", cluster.url)  # round-robin spreads them
    assert job_sim.state.count("generate") == 1  # the same request again: still one


async def test_a_replica_killed_mid_wait_loses_nothing_another_finishes_the_job(
    cluster: Cluster, job_sim: SimulatorServer, users: tuple[Path, dict[str, str]]
) -> None:
    ann = users[1]["ann"]
    doomed = cluster.replicas[0]

    async def waiting() -> None:
        await call(doomed.url, ann, "atlas_generate_video", {"prompt": "killed mid-wait"})

    prediction_id = None
    with anyio.move_on_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiting)
            while prediction_id is None:  # the row has its id: the POST was answered
                await anyio.sleep(0.2)
                listed = structured(await call(cluster.url, ann, "atlas_list_jobs", {}))
                prediction_id = next(
                    (j["prediction_id"] for j in listed["jobs"] if j.get("prediction_id")),
                    None,
                )
            doomed.kill()  # mid-wait: the job runs JOB_SECONDS
            tg.cancel_scope.cancel()
    assert prediction_id is not None
    assert job_sim.state.count("generate") == 1
    finished = await call(
        cluster.url, ann, "atlas_check_status", {"prediction_id": prediction_id, "wait": True}
    )
    assert not finished.is_error, text_of(finished)
    assert structured(finished)["status"] == "completed"
    listed = structured(await call(cluster.url, ann, "atlas_list_jobs", {}))
    (job,) = listed["jobs"]
    assert job["prediction_id"] == prediction_id and job["status"] == "completed"
    assert job_sim.state.count("generate") == 1


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_two_users_stay_apart_whichever_replica_answers(
    cluster: Cluster, users: tuple[Path, dict[str, str]], mode: str
) -> None:
    ann, bob = users[1]["ann"], users[1]["bob"]
    async with client(cluster.url, ann, mode) as mcp:  # 2025-era: its session sticks
        with anyio.fail_after(60):
            made = await mcp.call_tool("atlas_generate_video", {"prompt": "ann's", "wait": False})
    job = structured(made)["prediction_id"]
    for _ in range(3):  # round-robin: every replica in turn
        async with client(cluster.url, bob, mode) as mcp:
            listed = await mcp.call_tool("atlas_list_jobs", {})
            checked = await mcp.call_tool("atlas_check_status", {"prediction_id": job})
        assert structured(listed)["jobs"] == []
        assert checked.is_error and "Unknown job" in text_of(checked)
        async with client(cluster.url, ann, mode) as mcp:
            own = await mcp.call_tool("atlas_list_jobs", {})
        assert [j["prediction_id"] for j in structured(own)["jobs"]] == [job]
