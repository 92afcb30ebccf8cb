"""The paid-job safety of test_paid_job_safety.py, for calls served as MCP tasks: under
the same fault scripts (a slow POST answer, a dropped connection, a lost answer,
identical calls arriving together) every task sends its POST once and follows the one
job that exists; a call whose job could not be recorded is never a task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import simulator_settings, text_of
from mcp import Client
from mcp.types import CallToolResult
from task_client import CreateTask, TasksRequester, call, until
from test_paid_job_safety import KINDS, Kind

from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import Fault, SimulatorServer

pytestmark = pytest.mark.anyio


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


@pytest.fixture
def sim_job_seconds() -> float:
    return 0.4


def tasks_client(sim: SimulatorServer, workspace: Path, tmp_path: Path, **overrides: Any) -> Client:
    settings = simulator_settings(sim, workspace, state_dir=tmp_path / "state", **overrides)
    return Client(build_server(settings), extensions=[TasksRequester()])


async def test_a_read_timeout_on_the_post_sends_once_and_the_task_follows_the_found_job(
    sim: SimulatorServer, workspace: Path, tmp_path: Path, kind: Kind
) -> None:
    sim.state.add_fault(Fault(endpoint="generate", kind="slow", delay=1.5))
    with anyio.fail_after(30):
        async with tasks_client(sim, workspace, tmp_path, read_timeout=0.3) as client:
            handle = await call(client, kind.tool, {"prompt": "a slow fox"})
            assert isinstance(handle, CreateTask), handle
            done = await until(client, handle.task_id, "completed")
    (job_id,) = sim.state.predictions
    data = done["result"]["structuredContent"]
    assert data["prediction_id"] == job_id and data["status"] == "completed"
    assert "found in Atlas's history" in done["result"]["content"][0]["text"]
    assert sim.state.count("generate") == 1


async def test_a_dropped_connection_on_the_post_becomes_a_task_of_the_recovered_job(
    sim: SimulatorServer, workspace: Path, tmp_path: Path, kind: Kind
) -> None:
    sim.state.add_fault(Fault(endpoint="generate", kind="drop"))
    with anyio.fail_after(30):
        async with tasks_client(sim, workspace, tmp_path) as client:
            handle = await call(client, kind.tool, {"prompt": "dropped"})
            done = await until(client, handle.task_id, "completed")
    (job_id,) = sim.state.predictions
    assert done["result"]["structuredContent"]["prediction_id"] == job_id
    assert sim.state.count("generate") == 1


async def test_a_lost_answer_is_never_a_task_and_never_resent(
    sim: SimulatorServer, workspace: Path, tmp_path: Path, kind: Kind
) -> None:
    sim.state.add_fault(Fault(endpoint="generate", kind="json_error", status=502))
    with anyio.fail_after(30):
        async with tasks_client(sim, workspace, tmp_path) as client:
            result = await call(client, kind.tool, {"prompt": "a lost cat"})
            again = await call(client, kind.tool, {"prompt": "a lost cat"})
    assert isinstance(result, CallToolResult) and result.is_error
    assert "outcome of this generate request is unknown" in text_of(result)
    assert isinstance(again, CallToolResult) and "unknown outcome" in text_of(again)
    assert sim.state.count("generate") == 1


async def test_identical_calls_arriving_together_make_one_post_and_follow_one_job(
    sim: SimulatorServer, workspace: Path, tmp_path: Path, kind: Kind
) -> None:
    handles: list[Any] = []
    with anyio.fail_after(30):
        async with tasks_client(sim, workspace, tmp_path) as client:

            async def generate() -> None:
                handles.append(await call(client, kind.tool, {"prompt": "twins", **kind.framed}))

            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(generate)
            assert all(isinstance(h, CreateTask) for h in handles), handles
            done = [await until(client, h.task_id, "completed") for h in handles]
    ids = {task["result"]["structuredContent"]["prediction_id"] for task in done}
    assert len(ids) == 1 and None not in ids
    assert sim.state.count("generate") == 1 and sim.state.count("upload") == 1


async def test_an_identical_call_after_the_job_ended_gets_the_earlier_result_not_a_task(
    sim: SimulatorServer, workspace: Path, tmp_path: Path, kind: Kind
) -> None:
    with anyio.fail_after(30):
        async with tasks_client(sim, workspace, tmp_path) as client:
            handle = await call(client, kind.tool, {"prompt": "a fox"})
            await until(client, handle.task_id, "completed")
            again = await call(client, kind.tool, {"prompt": "a fox"})
    assert isinstance(again, CallToolResult) and "Not sent again" in text_of(again)
    assert sim.state.count("generate") == 1
