"""The MCP tools, driven by the SDK's in-memory client in both protocol eras, against the
simulator over loopback."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import anyio
import pytest
from helpers import (
    MODES,
    PNG,
    assert_polling_stopped,
    simulator_settings,
    structured,
    text_of,
)
from mcp import Client
from mcp.types import ResourceLink

from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import Fault, SimulatorServer

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", MODES)
async def test_list_models_lists_video_models_with_prices_and_never_hidden_ones(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        result = await client.call_tool("atlas_list_models", {})
        everything = await client.call_tool("atlas_list_models", {"type": "all", "limit": 200})
    data = structured(result)
    assert not result.is_error
    assert data["total"] >= len(data["models"]) == 20  # the default limit
    assert all(m["type"] == "video" for m in data["models"])
    hailuo = next(m for m in data["models"] if m["id"] == "minimax/hailuo-02/fast")
    assert hailuo["price"] == pytest.approx(0.1)
    hidden = {m.id for m in sim.state.catalog if m.display_console is False}
    listed = {m["id"] for m in structured(everything)["models"]}
    assert hidden and not hidden & listed


@pytest.mark.parametrize("mode", MODES)
async def test_tools_list_is_small_and_every_tool_is_fully_described(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        listing = await client.list_tools()
    # the bytes as sent: compact JSON, the answer's envelope included
    wire = listing.model_dump_json(by_alias=True, exclude_none=True)
    # 7,000 until the job summary and dry-run request types were declared (+~500 bytes:
    # clients that build objects from output schemas, fastmcp's, got them empty)
    assert len(wire.encode()) < 7500, len(wire.encode())
    names = {tool.name for tool in listing.tools}
    assert {"atlas_list_models", "atlas_upload_media", "atlas_generate_video"} <= names
    assert {"atlas_generate_image", "atlas_check_status"} <= names
    for tool in listing.tools:
        assert tool.title and tool.description and tool.annotations and tool.output_schema
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"


@pytest.mark.parametrize("mode", MODES)
async def test_upload_sends_the_file_and_returns_its_url(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        result = await client.call_tool("atlas_upload_media", {"path": "photo.png"})
    data = structured(result)
    assert data["url"].startswith(sim.base_url)
    assert data["size_bytes"] == len(PNG)
    (upload,) = sim.state.uploads.values()
    assert upload.sha256 == hashlib.sha256(PNG).hexdigest()


async def test_upload_outside_the_roots_is_refused_before_any_request(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "workspace-evil"
    outside.mkdir()
    (outside / "photo.png").write_bytes(PNG)
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        result = await client.call_tool("atlas_upload_media", {"path": str(outside / "photo.png")})
    assert result.is_error
    assert "outside the allowed roots" in text_of(result)
    assert sim.state.count("upload") == 0


@pytest.mark.parametrize("mode", MODES)
async def test_generate_waits_with_increasing_progress_and_returns_the_video(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    events: list[tuple[str, float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        events.append(("progress", progress, total, message))

    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        result = await client.call_tool(
            "atlas_generate_video",
            {"prompt": "a red fox in snow", "image": "photo.png", "duration": 6},
            progress_callback=on_progress,
        )
        events.append(("result", 0.0, None, None))
        await anyio.sleep(0.5)  # several heartbeats: none may arrive after the result

    data = structured(result)
    assert not result.is_error, text_of(result)
    assert data["status"] == "completed"
    assert data["video_url"] == data["outputs"][0]
    assert any(
        isinstance(b, ResourceLink) and str(b.uri) == f"atlas://jobs/{data['prediction_id']}"
        for b in result.content
    )
    assert events[-1][0] == "result"
    progress = [e[1] for e in events if e[0] == "progress"]
    assert len(progress) >= 2
    assert all(b > a for a, b in itertools.pairwise(progress))
    messages = [e[3] or "" for e in events if e[0] == "progress"]
    assert all(m.startswith("Atlas: ") and m.endswith(" s") for m in messages)
    assert any("completed" in m for m in messages)
    assert sim.state.count("generate") == 1
    (job,) = sim.state.predictions.values()
    assert job.params["image"].startswith(sim.base_url)  # the local path was uploaded first


@pytest.mark.parametrize("mode", MODES)
async def test_a_failed_job_is_an_error_result_quoting_the_reason(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        result = await client.call_tool("atlas_generate_video", {"prompt": "x [sim:moderation]"})
    assert result.is_error
    data = structured(result)
    assert data["status"] == "failed"
    assert data["error"] and "moderation" in data["error"].lower()
    assert data["error"] in text_of(result)
    (job,) = sim.state.predictions.values()  # what Atlas support asks for
    assert f"Atlas request id of the submission: {job.request_id}." in text_of(result)


@pytest.mark.parametrize("mode", MODES)
async def test_a_job_longer_than_the_budget_is_handed_back_as_processing(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        result = await client.call_tool(
            "atlas_generate_video", {"prompt": "slow [sim:never]", "max_wait_seconds": 0.4}
        )
    assert not result.is_error
    data = structured(result)
    assert data["status"] == "processing"
    assert data["prediction_id"] in sim.state.predictions
    assert "atlas_check_status" in text_of(result)
    assert data["prediction_id"] in text_of(result)


@pytest.mark.parametrize("mode", MODES)
async def test_cancelling_the_call_stops_polling_at_once(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:

                async def generate() -> None:
                    await client.call_tool(
                        "atlas_generate_video", {"prompt": "forever [sim:never]"}
                    )

                tg.start_soon(generate)
                while True:  # cancel once the wait is under way (the job polled twice)
                    if any(sim.state.count("prediction", p) >= 2 for p in sim.state.predictions):
                        break
                    await anyio.sleep(0.02)
                tg.cancel_scope.cancel()
        (job_id,) = sim.state.predictions
        assert await assert_polling_stopped(sim, job_id, interval=0.1) >= 2
        status = await client.call_tool("atlas_check_status", {"prediction_id": job_id})
    assert structured(status)["status"] == "processing"  # the job itself is kept


@pytest.mark.parametrize("mode", MODES)
async def test_check_status_with_wait_finishes_a_job_submitted_without_waiting(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        submitted = await client.call_tool(
            "atlas_generate_video", {"prompt": "a boat", "wait": False}
        )
        job_id = structured(submitted)["prediction_id"]
        assert structured(submitted)["status"] == "processing"
        done = await client.call_tool(
            "atlas_check_status",
            {"prediction_id": job_id, "wait": True},
            progress_callback=on_progress,
        )
    assert structured(done)["status"] == "completed"
    assert structured(done)["video_url"]
    assert seen
    assert sim.state.count("generate") == 1


async def test_without_a_key_generate_says_how_to_set_it_and_sends_nothing(
    sim: SimulatorServer, workspace: Path
) -> None:
    settings = simulator_settings(sim, workspace, api_key=None)
    async with Client(build_server(settings)) as client:
        listed = await client.call_tool("atlas_list_models", {})
        result = await client.call_tool("atlas_generate_video", {"prompt": "a cat"})
    assert not listed.is_error  # the catalog needs no key
    assert result.is_error
    assert "ATLASCLOUD_API_KEY" in text_of(result)
    assert sim.state.count("generate") == 0


async def test_insufficient_balance_says_to_top_up(sim: SimulatorServer, workspace: Path) -> None:
    sim.state.add_fault(
        Fault(endpoint="generate", kind="json_error", status=402, message="no money")
    )
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        result = await client.call_tool("atlas_generate_video", {"prompt": "a cat"})
    assert result.is_error
    assert "Top up" in text_of(result)


async def test_a_rejected_parameter_names_it_and_nothing_is_billed(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        result = await client.call_tool("atlas_generate_video", {"prompt": "a cat", "duration": 7})
    assert result.is_error
    assert "duration" in text_of(result)
    assert not sim.state.predictions


async def test_an_unknown_prediction_id_is_a_clear_error(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        result = await client.call_tool("atlas_check_status", {"prediction_id": "nope"})
    assert result.is_error
    assert "404" in text_of(result)
