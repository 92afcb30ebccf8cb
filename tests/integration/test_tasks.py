"""MCP tasks (io.modelcontextprotocol/tasks) for the generate tools, in process against
the simulator over loopback: a task per paid job, followed to exactly the blocking
call's result; cost confirmation as input_required; cancel; owners."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import simulator_settings, structured, text_of
from jsonschema import ValidationError
from mcp import Client
from mcp.shared.exceptions import MCPError
from task_client import CreateTask, TasksRequester, call, get, send, until, wire
from task_schema import check

from atlas_mcp_py.jobs.backend import open_task_store
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.jobs.tasks import TaskRecord, TaskStore, new_task_id
from atlas_mcp_py.server import task_runtime
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def sim_job_seconds() -> float:
    return 0.4


def tasks_client(settings: Any, **kwargs: Any) -> Client:
    return Client(build_server(settings), extensions=[TasksRequester()], **kwargs)


async def test_a_video_call_becomes_a_task_that_completes_with_the_blocking_result(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    settings = simulator_settings(sim, workspace, state_dir=tmp_path / "state")
    seen: list[dict[str, Any]] = []
    with anyio.fail_after(20):
        async with tasks_client(settings) as client:
            handle = await call(client, "atlas_generate_video", {"prompt": "a red fox"})
            assert isinstance(handle, CreateTask), handle
            assert sim.state.count("generate") == 1  # sent before the handle came back
            done = await until(client, handle.task_id, "completed", seen=seen)
        async with Client(build_server(settings)) as plain:
            blocking = await plain.call_tool("atlas_generate_video", {"prompt": "a blue fox"})
    working = [t for t in seen if t["status"] == "working"]
    assert working and working[0]["statusMessage"].startswith("Atlas: ")
    assert all(t["pollIntervalMs"] > 0 for t in working)
    result = done["result"]
    assert result["isError"] is False
    assert set(result["structuredContent"]) == set(structured(blocking))
    assert result["structuredContent"]["status"] == "completed"
    assert result["structuredContent"]["video_url"]
    assert sim.state.count("generate") == 2  # one POST per call


async def test_a_client_without_the_capability_gets_the_plain_result(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    settings = simulator_settings(sim, workspace, state_dir=tmp_path / "state")
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("atlas_generate_video", {"prompt": "a red fox"})
    assert structured(result)["status"] == "completed", text_of(result)


async def test_cancel_stops_following_and_says_atlas_cannot_cancel(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    settings = simulator_settings(sim, workspace, state_dir=tmp_path / "state")
    with anyio.fail_after(20):
        async with tasks_client(settings) as client:
            handle = await call(client, "atlas_generate_video", {"prompt": "fox [sim:never]"})
            assert (await send(client, "tasks/cancel", handle.task_id))["resultType"] == "complete"
            task = await get(client, handle.task_id)
    assert task["status"] == "cancelled"
    assert "no cancel endpoint" in task["statusMessage"]
    assert "atlas_list_jobs" in task["statusMessage"]


async def test_wire_shapes_follow_the_published_schema(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    settings = simulator_settings(sim, workspace, state_dir=tmp_path / "state")
    with anyio.fail_after(20):
        async with tasks_client(settings) as client:
            handle = await call(client, "atlas_generate_video", {"prompt": "fox"})
            working = await get(client, handle.task_id)
            done = await until(client, handle.task_id, "completed")
            other = await call(client, "atlas_generate_image", {"prompt": "cat [sim:never]"})
            cancelled = await send(client, "tasks/cancel", other.task_id)
            after = await get(client, other.task_id)
    check("CreateTaskResult", wire(handle))
    assert wire(handle)["resultType"] == "task"
    for task in (working, done, after):
        check("GetTaskResult", task)
        assert task["resultType"] == "complete"
    check("CompletedTask", {k: v for k, v in done.items() if k not in ("_meta", "resultType")})
    check("CancelTaskResult", cancelled)
    with pytest.raises(ValidationError):  # the check can fail
        check("GetTaskResult", {**done, "ttlMs": "soon"})


async def test_a_failed_atlas_job_is_a_completed_task_with_an_error_result(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    settings = simulator_settings(sim, workspace, state_dir=tmp_path / "state")
    with anyio.fail_after(20):
        async with tasks_client(settings) as client:
            handle = await call(client, "atlas_generate_video", {"prompt": "fox [sim:fail]"})
            done = await until(client, handle.task_id, "completed", "failed")
    assert done["status"] == "completed"
    assert done["result"]["isError"] is True
    assert done["result"]["structuredContent"]["status"] == "failed"


async def test_above_the_confirm_limit_the_task_asks_and_bills_only_after_yes(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    settings = simulator_settings(
        sim, workspace, state_dir=tmp_path / "state", confirm_above_usd=0.03
    )
    with anyio.fail_after(20):
        async with tasks_client(settings, elicitation_callback=_never_asked) as client:
            handle = await call(client, "atlas_generate_video", {"prompt": "pricey"})
            asking = await get(client, handle.task_id)
            assert sim.state.count("generate") == 0  # nothing billed before the answer
            (key,) = asking["inputRequests"]
            answer = {key: {"action": "accept", "content": {"approve": True}}}
            updated = await send(client, "tasks/update", handle.task_id, inputResponses=answer)
            again = await send(client, "tasks/update", handle.task_id, inputResponses=answer)
            done = await until(client, handle.task_id, "completed")
    assert handle.status == "input_required"
    check("GetTaskResult", asking)
    request = asking["inputRequests"][key]
    assert request["method"] == "elicitation/create"
    assert "$0.20" in request["params"]["message"] and "pricey" in request["params"]["message"]
    check("UpdateTaskResult", updated)
    assert again["resultType"] == "complete"  # a repeated answer is ignored
    assert done["result"]["structuredContent"]["status"] == "completed"
    assert sim.state.count("generate") == 1


async def test_a_declined_cost_cancels_the_task_and_sends_nothing(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    settings = simulator_settings(
        sim, workspace, state_dir=tmp_path / "state", confirm_above_usd=0.03
    )
    with anyio.fail_after(20):
        async with tasks_client(settings, elicitation_callback=_never_asked) as client:
            handle = await call(client, "atlas_generate_image", {"prompt": "pricey"})
            (key,) = (await get(client, handle.task_id))["inputRequests"]
            await send(
                client, "tasks/update", handle.task_id, inputResponses={key: {"action": "decline"}}
            )
            task = await get(client, handle.task_id)
    assert task["status"] == "cancelled" and "nothing was sent" in task["statusMessage"]
    assert sim.state.count("generate") == 0


async def test_a_new_server_on_the_same_ledger_finishes_the_task(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    settings = simulator_settings(sim, workspace, state_dir=tmp_path / "state")
    with anyio.fail_after(20):
        async with tasks_client(settings) as first:
            handle = await call(first, "atlas_generate_video", {"prompt": "fox [sim:never]"})
        (pid,) = sim.state.predictions
        sim.state.complete(pid)
        async with tasks_client(settings) as second:
            done = await until(second, handle.task_id, "completed")
            with pytest.raises(MCPError) as unknown:
                await get(second, "task-not-a-real-one")
    assert done["result"]["structuredContent"]["prediction_id"] == pid
    assert unknown.value.error.code == -32602
    assert sim.state.count("generate") == 1


async def _never_asked(context: Any, params: Any) -> Any:
    raise AssertionError("a task asks through inputRequests, not elicitation/create")


async def test_a_task_whose_sending_process_died_is_answered_not_resent(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    settings = simulator_settings(sim, workspace, state_dir=tmp_path / "state")
    long_ago = time.time() - 3600
    store = TaskStore.open(Ledger.default_path(tmp_path / "state"))
    lost = store.create(
        TaskRecord(
            task_id=new_task_id(),
            owner="stdio",
            tool="atlas_generate_video",
            arguments={"prompt": "a fox"},
            status="working",
            created_at=long_ago,
            updated_at=long_ago,
        )
    )
    store.close()
    with anyio.fail_after(20):
        async with tasks_client(settings) as client:
            task = await get(client, lost.task_id)
    assert task["status"] == "completed" and task["result"]["isError"] is True
    assert "NOT resent" in task["result"]["content"][0]["text"]
    assert sim.state.count("generate") == 0


def _normalized(result: dict[str, Any]) -> str:
    """A result with what differs between two jobs (ids, URLs, times, names) blanked."""
    data = result.get("structuredContent") or {}
    text = json.dumps({k: v for k, v in result.items() if k != "_meta"}, sort_keys=True)
    for key in ("prediction_id", "video_url", "image_url", "local_path"):
        if isinstance(data.get(key), str):
            text = text.replace(data[key], f"<{key}>")
    for output in data.get("outputs") or []:
        text = text.replace(output, "<output>")
    text = re.sub(r"\b[0-9a-f]{32}\b", "<id>", text)
    text = re.sub(r"\d+(\.\d+)? s\b", "N s", text)
    text = re.sub(r'"(elapsed_seconds|size_bytes)": [0-9.]+', r'"\1": N', text)
    return re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", "<when>", text)


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("atlas_generate_video", {"prompt": "a fox", "image": "photo.png", "save_to": "v/"}),
        ("atlas_generate_image", {"prompt": "a cat", "save_to": "i/"}),
    ],
)
async def test_the_task_result_is_the_blocking_calls_result(
    sim: SimulatorServer, workspace: Path, tmp_path: Path, tool: str, arguments: dict[str, Any]
) -> None:
    settings = simulator_settings(sim, workspace, state_dir=tmp_path / "state")
    with anyio.fail_after(30):
        async with Client(build_server(settings), mode="auto") as plain:
            blocking = await plain.call_tool(tool, {**arguments, "allow_duplicate": True})
        async with tasks_client(settings) as client:
            handle = await call(client, tool, {**arguments, "allow_duplicate": True})
            done = await until(client, handle.task_id, "completed")
    expected = wire(blocking)
    assert _normalized(done["result"]) == _normalized(expected)
    assert (
        done["result"]["structuredContent"]["local_path"]
        != expected["structuredContent"]["local_path"]
    )  # two jobs, two files, both saved


async def test_tasks_methods_refuse_a_client_that_did_not_declare_the_extension(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    settings = simulator_settings(sim, workspace, state_dir=tmp_path / "state")
    with anyio.fail_after(20):
        async with tasks_client(settings) as client:
            handle = await call(client, "atlas_generate_video", {"prompt": "fox [sim:never]"})
        async with Client(build_server(settings)) as plain:
            with pytest.raises(MCPError) as refused:
                await get(plain, handle.task_id)
    assert refused.value.error.code == -32021
    assert refused.value.error.data == {
        "requiredCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}
    }


async def test_a_follower_that_crashes_completes_the_task_with_the_crash_answer(
    sim: SimulatorServer, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug while finishing")

    monkeypatch.setattr(task_runtime, "finish", broken)
    settings = simulator_settings(sim, workspace, state_dir=tmp_path / "state")
    with anyio.fail_after(20):
        async with tasks_client(settings) as client:
            handle = await call(client, "atlas_generate_video", {"prompt": "a fox"})
            done = await until(client, handle.task_id, "completed")
    assert done["result"]["isError"] is True
    assert "internal error" in done["result"]["content"][0]["text"]
    assert "atlas_list_jobs" in done["result"]["content"][0]["text"]


async def test_a_json_rpc_error_while_sending_the_approved_job_fails_the_task(
    sim: SimulatorServer, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = simulator_settings(
        sim, workspace, state_dir=tmp_path / "state", confirm_above_usd=0.03
    )
    server = build_server(settings)

    async def protocol_error(*args: Any, **kwargs: Any) -> Any:
        raise MCPError(code=-32603, message="the roots request failed")

    with anyio.fail_after(20):
        requester = Client(server, extensions=[TasksRequester()], elicitation_callback=_never_asked)
        async with requester as client:
            handle = await call(client, "atlas_generate_video", {"prompt": "pricey"})
            (key,) = (await get(client, handle.task_id))["inputRequests"]
            monkeypatch.setattr(server, "call_tool", protocol_error)
            answer = {key: {"action": "accept", "content": {"approve": True}}}
            await send(client, "tasks/update", handle.task_id, inputResponses=answer)
            task = await get(client, handle.task_id)
    assert task["status"] == "failed"
    assert task["error"] == {"code": -32603, "message": "the roots request failed"}
    check("GetTaskResult", task)
    assert sim.state.count("generate") == 0


async def test_on_a_postgresql_ledger_a_second_instance_answers_the_task_and_not_others(
    sim: SimulatorServer, workspace: Path, tmp_path: Path, postgres: Any
) -> None:
    """Replicas share the PostgreSQL ledger: a task created on one instance is answered
    by `tasks/get` on another (its table is in the database, not a replica's file);
    another user's task there is unknown."""
    url = postgres.new_database()
    first = simulator_settings(sim, workspace, state_dir=tmp_path / "one", database_url=url)
    second = simulator_settings(sim, workspace, state_dir=tmp_path / "two", database_url=url)
    with anyio.fail_after(20):
        async with tasks_client(first) as client:
            handle = await call(client, "atlas_generate_video", {"prompt": "fox [sim:never]"})
            assert isinstance(handle, CreateTask), handle
        (pid,) = sim.state.predictions
        sim.state.complete(pid)
        theirs = await anyio.to_thread.run_sync(_someone_elses_task, url)
        async with tasks_client(second) as client:
            done = await until(client, handle.task_id, "completed")
            with pytest.raises(MCPError) as unknown:
                await get(client, theirs)
    assert done["result"]["structuredContent"]["prediction_id"] == pid
    assert unknown.value.error.code == -32602
    assert sim.state.count("generate") == 1
    assert not _local_ledger_files(tmp_path)


def _someone_elses_task(url: str) -> str:
    store = open_task_store(url)
    try:
        now = time.time()
        return store.create(
            TaskRecord(
                task_id=new_task_id(),
                owner="token:someone-else",
                tool="atlas_generate_video",
                arguments={"prompt": "theirs"},
                status="working",
                created_at=now,
                updated_at=now,
            )
        ).task_id
    finally:
        store.close()


def _local_ledger_files(tmp_path: Path) -> list[Path]:
    return [*tmp_path.rglob("*.sqlite3"), *Path.cwd().glob("postgresql*")]
