"""What agent frameworks' MCP clients send and do, answered: `null` for an optional
argument (mcp-use's LangChain adapter sends one for every argument the model left out),
a `resources/read` of every link a result carries (pydantic-ai 1.x reads each
`resource_link`), output schemas that describe every object (fastmcp's `result.data`
builds its objects from them), and a progress `total` kept to the last notification.
tests/e2e/test_agent_frameworks.py runs the frameworks themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import simulator_settings, structured, text_of
from mcp import Client, MCPError
from mcp.types import ResourceLink, TextResourceContents

from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio

UNSET_AS_NULL = {
    "model": None,
    "image": None,
    "end_image": None,
    "duration": None,
    "resolution": None,
    "params": None,
    "wait": None,
    "max_wait_seconds": None,
    "dry_run": None,
    "save_to": None,
    "overwrite": None,
    "allow_duplicate": None,
    "confirm_cost": None,
}


async def test_null_for_any_optional_argument_means_not_given(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        video = await client.call_tool(
            "atlas_generate_video", {"prompt": "a kite", **UNSET_AS_NULL}
        )
        job = structured(video)
        status = await client.call_tool(
            "atlas_check_status",
            {
                "prediction_id": job["prediction_id"],
                "wait": None,
                "max_wait_seconds": None,
                "save_to": None,
                "overwrite": None,
            },
        )
        jobs = await client.call_tool("atlas_list_jobs", {"status": None, "limit": None})
        missing = await client.call_tool("atlas_check_status", {"prediction_id": None})
    assert not video.is_error, text_of(video)
    assert job["status"] == "completed"  # wait: null waited, as not giving it does
    assert not status.is_error and structured(status)["status"] == "completed"
    assert not jobs.is_error and len(structured(jobs)["jobs"]) == 1
    assert missing.is_error and "`prediction_id` must be text" in text_of(missing)
    assert sim.state.count("generate") == 1


async def test_every_progress_notification_of_a_job_with_an_estimate_has_its_total(
    sim: SimulatorServer, workspace: Path
) -> None:
    """The second job of a model has an estimate (the first one's run time); the
    notification for its end is the one a client shows last, and keeps `total`."""
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        await client.call_tool("atlas_generate_video", {"prompt": "first"})
        result = await client.call_tool(
            "atlas_generate_video", {"prompt": "second"}, progress_callback=on_progress
        )
    assert structured(result)["status"] == "completed"
    assert len(seen) >= 2
    assert all(total is not None and progress <= total for progress, total in seen), seen


def _objects_without_properties(node: Any, path: str) -> list[str]:
    """Paths of object schemas that name none of their fields."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "object" and not node.get("properties"):
            found.append(path)
        for key, value in node.items():
            found += _objects_without_properties(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _objects_without_properties(value, f"{path}[{i}]")
    return found


async def test_output_schemas_name_the_fields_of_every_object(
    sim: SimulatorServer, workspace: Path
) -> None:
    """fastmcp's `result.data` is built from the output schema: an object declared bare
    (`{"type": "object"}`) comes back empty, and one with fields keeps only those unless
    `additionalProperties` is true (the dry run's request body: any model parameter)."""
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        tools = {t.name: t.output_schema for t in (await client.list_tools()).tools}
    bare = [p for name, schema in tools.items() for p in _objects_without_properties(schema, name)]
    assert bare == []
    jobs = tools["atlas_list_jobs"]["properties"]["jobs"]["items"]  # type: ignore[index]
    assert {"prediction_id", "status", "video_url", "local_path"} <= set(jobs["properties"])
    request = tools["atlas_generate_video"]["properties"]["request"]  # type: ignore[index]
    assert request["additionalProperties"] is True


async def test_every_link_a_result_carries_is_read_back_by_resources_read(
    sim: SimulatorServer, workspace: Path
) -> None:
    """pydantic-ai 1.x reads each `resource_link` of a result; one it cannot read fails
    the whole call (the video made and paid for)."""
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        results = [
            await client.call_tool("atlas_generate_video", {"prompt": "a", "save_to": "v.mp4"}),
            await client.call_tool("atlas_generate_image", {"prompt": "b", "save_to": "i.png"}),
            await client.call_tool("atlas_generate_video", {"prompt": "c", "wait": False}),
            await client.call_tool("atlas_generate_video", {"prompt": "d [sim:fail]"}),
        ]
        links = [b for r in results for b in r.content if isinstance(b, ResourceLink)]
        read = [await client.read_resource(str(link.uri)) for link in links]
    assert len(links) == len(results)  # one each, to the job's record
    for link, answer, result in zip(links, read, results, strict=True):
        (contents,) = answer.contents
        assert isinstance(contents, TextResourceContents) and contents.mime_type == link.mime_type
        record = json.loads(contents.text)
        assert record["prediction_id"] == structured(result)["prediction_id"]
    assert json.loads(read[0].contents[0].text)["local_path"] == str(workspace / "v.mp4")  # type: ignore[union-attr]


async def test_a_client_that_abandoned_a_wait_is_answered_within_its_time_limit_after(
    slow_sim: SimulatorServer, workspace: Path
) -> None:
    """The OpenAI Agents SDK stops waiting after 5 s and sends no progress token: the
    call it abandons tells the server its limit (`notifications/cancelled`), and the
    session's later waits end a second before it, with the job's id to check again."""
    async with Client(build_server(simulator_settings(slow_sim, workspace))) as client:
        with pytest.raises(MCPError):  # the client's own timeout: the job is made regardless
            await client.call_tool(
                "atlas_generate_video", {"prompt": "a long one"}, read_timeout_seconds=3
            )
        (job,) = slow_sim.state.predictions.values()
        status = await client.call_tool(
            "atlas_check_status", {"prediction_id": job.id, "wait": True}, read_timeout_seconds=3
        )
        again = await client.call_tool(
            "atlas_generate_video", {"prompt": "a long one"}, read_timeout_seconds=3
        )
    assert "still running" in text_of(status) and job.id in text_of(status)
    assert structured(again)["prediction_id"] == job.id  # the duplicate guard: paid once
    assert slow_sim.state.count("generate") == 1


async def test_a_retried_call_for_the_same_job_and_save_to_returns_the_saved_file(
    sim: SimulatorServer, workspace: Path
) -> None:
    """A client that gave up on a call calls again with the same arguments while the
    first still waits: the duplicate guard hands back the same job, and whichever call
    saves second finds this job's video already there, and returns it."""
    arguments = {"prompt": "a kite over the sea", "save_to": "out/kite.mp4"}
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        results: list[Any] = []

        async def call() -> None:
            results.append(await client.call_tool("atlas_generate_video", arguments))

        async with anyio.create_task_group() as group:
            group.start_soon(call)
            await anyio.sleep(0.2)
            group.start_soon(call)
    saved = workspace / "out" / "kite.mp4"
    assert sim.state.count("generate") == 1
    for result in results:
        data = structured(result)
        assert not result.is_error and data.get("local_path") == str(saved), text_of(result)
        assert data["size_bytes"] == saved.stat().st_size
        assert "failed" not in text_of(result)
    assert sorted(p.name for p in saved.parent.iterdir()) == ["kite.mp4"]
