"""The second pass over the real API (issue 22), through the MCP tools against the
simulator over loopback: prices with no unit read as Atlas's own MCP reads them (per
second for video, per image for images) with `minDuration`, and a cost confirmation that
now triggers; raw base64 and `data:` image outputs both decoded and saved; answers of
`enable_sync_mode` used without waiting; a model with no `prompt` callable, one that needs
it refused before spending; `Accept: application/json` on every API request."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import MODES, simulator_settings, structured, text_of
from mcp import Client

from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SimulatorServer
from atlas_mcp_py.simulator.jobs import ASSETS_DIR

pytestmark = pytest.mark.anyio

SIM_PNG = (ASSETS_DIR / "sample.png").read_bytes()
UNITLESS_VIDEO = "vidu/q3-turbo/text-to-video"
"""Priced $0.05 with no unit in the simulator's catalog: per second."""
UNITLESS_IMAGE = "google/imagen4"
"""Priced $0.04 with no unit: per image (it takes num_images)."""
RAW_BASE64 = "bytedance/seedream-v4"
"""Answers `enable_base64_output` with plain base64, no `data:` prefix."""
DATA_URL = "bytedance/seedream-v4.5"
"""Answers `enable_base64_output` with a `data:image/png;base64,` URL."""
SYNC = "atlascloud/qwen-image/text-to-image"
"""Takes `enable_sync_mode`."""
NO_PROMPT = "kwaivgi/kling-effects"
FRAME = "https://example.com/frame.png"


def settings_for(sim: SimulatorServer, root: Path, **overrides: Any) -> Any:
    return simulator_settings(sim, root, state_dir=root.parent / "state", **overrides)


def ledger_rows(root: Path) -> list[Any]:
    with Ledger.open(Ledger.default_path(root.parent / "state")) as ledger:
        return ledger.recent(100)


def content(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def catalog_entry(sim: SimulatorServer, model: str) -> Any:
    found = sim.state.find_model(model)
    assert found is not None
    return found


# -- prices ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_a_unitless_video_price_is_per_second_times_the_duration(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    assert "unit" not in catalog_entry(sim, UNITLESS_VIDEO).price["actual"]
    async with Client(build_server(settings_for(sim, workspace)), mode=mode) as client:
        ten = await client.call_tool(
            "atlas_generate_video",
            {"prompt": "a kite", "model": UNITLESS_VIDEO, "duration": 10, "dry_run": True},
        )
        default = await client.call_tool(
            "atlas_generate_video", {"prompt": "a kite", "model": UNITLESS_VIDEO, "dry_run": True}
        )
    assert not ten.is_error, text_of(ten)
    assert structured(ten)["estimated_cost_usd"] == pytest.approx(10 * 0.05)
    assert "$0.05 per second x 10 s" in text_of(ten) and "no unit" in text_of(ten)
    default_duration = catalog_entry(sim, UNITLESS_VIDEO).input_schema()["properties"]["duration"]
    seconds = default_duration["default"]
    assert structured(default)["estimated_cost_usd"] == pytest.approx(seconds * 0.05)
    assert f"x {seconds:g} s" in text_of(default)
    assert sim.state.count("generate") == 0


async def test_a_unitless_image_price_is_per_image_times_the_count(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(settings_for(sim, workspace))) as client:
        result = await client.call_tool(
            "atlas_generate_image",
            {
                "prompt": "a cup",
                "model": UNITLESS_IMAGE,
                "params": {"num_images": 3},
                "dry_run": True,
            },
        )
    assert structured(result)["estimated_cost_usd"] == pytest.approx(3 * 0.04)
    assert "$0.04 per image x 3 images" in text_of(result) and "no unit" in text_of(result)


async def test_a_minimum_billed_duration_is_applied_and_said(
    sim: SimulatorServer, workspace: Path
) -> None:
    model = "vidu/q2-pro-fast/reference-to-video-with-audio"
    spec = catalog_entry(sim, model)
    index = sim.state.catalog.index(spec)
    sim.state.catalog[index] = dataclasses.replace(spec, min_seconds=8.0)
    subjects = [{"id": "1", "images": [FRAME]}]
    async with Client(build_server(settings_for(sim, workspace))) as client:
        listed = await client.call_tool("atlas_list_models", {"query": "with-audio"})
        short = await client.call_tool(
            "atlas_generate_video",
            {
                "prompt": "two friends",
                "model": model,
                "duration": 3,
                "params": {"subjects": subjects},
                "dry_run": True,
            },
        )
    assert not short.is_error, text_of(short)
    assert structured(short)["estimated_cost_usd"] == pytest.approx(8 * 0.06)
    assert "x 8 s, billed for at least 8 s" in text_of(short)
    assert "at least 8 s" in json.dumps(structured(listed))


@pytest.mark.parametrize("mode", MODES)
async def test_the_cost_confirmation_now_triggers_for_a_unitless_video_model(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    """$0.05 read as a flat price would pass a $0.30 limit; 10 s of it ($0.50) does not."""
    settings = settings_for(sim, workspace, confirm_above_usd=0.3)
    arguments = {"prompt": "a kite", "model": UNITLESS_VIDEO, "duration": 10, "wait": False}
    async with Client(build_server(settings), mode=mode) as client:
        refused = await client.call_tool("atlas_generate_video", arguments)
    assert refused.is_error
    assert "about $0.50" in text_of(refused) and "confirm_cost: true" in text_of(refused)
    assert "per second x 10 s" in text_of(refused)
    assert sim.state.count("generate") == 0


# -- inline outputs ----------------------------------------------------------------------


@pytest.mark.parametrize(("model", "prefix"), [(RAW_BASE64, False), (DATA_URL, True)])
async def test_raw_and_data_url_base64_images_are_both_decoded_and_saved(
    sim: SimulatorServer, workspace: Path, model: str, prefix: bool
) -> None:
    async with Client(build_server(settings_for(sim, workspace))) as client:
        result = await client.call_tool(
            "atlas_generate_image",
            {
                "prompt": "a mug",
                "model": model,
                "params": {"enable_base64_output": True},
                "save_to": "stills/",
            },
        )
    (job,) = sim.state.predictions.values()
    assert job.outputs is not None
    assert job.outputs[0].startswith("data:") is prefix
    assert not result.is_error, text_of(result)
    data = structured(result)
    saved = Path(data["local_path"])
    assert content(saved) == SIM_PNG and saved.suffix == ".png"
    assert data.get("image_url") is None and data["outputs"] == [str(saved)]
    dumped = json.dumps(data) + text_of(result)
    assert job.outputs[0][:40] not in dumped  # never handed on as a URL
    (row,) = ledger_rows(workspace)
    assert row.local_path == str(saved) and "image/png" in row.outputs[0]


# -- enable_sync_mode ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_a_sync_mode_answer_is_used_without_polling_and_still_recorded(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    sim.state.job_seconds = 600  # a job polled for would outlast the test
    async with Client(build_server(settings_for(sim, workspace)), mode=mode) as client:
        result = await client.call_tool(
            "atlas_generate_image",
            {
                "prompt": "a lamp",
                "model": SYNC,
                "params": {"enable_sync_mode": True},
                "save_to": "lamp.png",
            },
        )
    assert not result.is_error, text_of(result)
    data = structured(result)
    assert data["status"] == "completed"
    assert content(data["local_path"]) == SIM_PNG
    assert sim.state.count("generate") == 1
    assert sim.state.count("prediction") == 0  # the answer held the outputs
    (row,) = ledger_rows(workspace)
    assert row.state == "completed" and row.local_path == data["local_path"]


# -- prompts -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_a_model_without_prompt_is_called_without_one(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    async with Client(build_server(settings_for(sim, workspace)), mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool(
            "atlas_generate_video",
            {"model": NO_PROMPT, "image": FRAME, "params": {"effect_scene": "snowglobe"}},
        )
    assert "prompt" not in tools["atlas_generate_video"].input_schema.get("required", [])
    assert "prompt" in tools["atlas_generate_image"].input_schema["required"]
    assert not result.is_error, text_of(result)
    (job,) = sim.state.predictions.values()
    assert "prompt" not in json.loads(job.request_body)
    assert structured(result)["status"] == "completed"


async def test_a_missing_prompt_is_refused_before_spending_where_the_model_needs_one(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(settings_for(sim, workspace))) as client:
        refused = await client.call_tool(
            "atlas_generate_video", {"model": "kwaivgi/kling-v3.0-std/text-to-video"}
        )
    assert refused.is_error
    assert "needs a prompt: `prompt` is required" in text_of(refused)
    assert "nothing was sent" in text_of(refused)
    assert sim.state.count("generate") == 0


async def test_every_api_request_asks_for_json(sim: SimulatorServer, workspace: Path) -> None:
    async with Client(build_server(settings_for(sim, workspace))) as client:
        await client.call_tool(
            "atlas_generate_video", {"prompt": "a kite", "model": UNITLESS_VIDEO}
        )
    api = [r for r in sim.state.requests if r.endpoint != "output"]
    assert {r.endpoint for r in api} >= {"models", "schema", "generate", "prediction"}
    assert {r.accept for r in api} == {"application/json"}


# -- wire names ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_vidu_start_end_gets_one_images_list_of_start_and_end(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    start, end = FRAME, "https://example.com/last.png"
    async with Client(build_server(settings_for(sim, workspace)), mode=mode) as client:
        listed = await client.call_tool("atlas_list_models", {"query": "start-end-to-video-2.0"})
        result = await client.call_tool(
            "atlas_generate_video",
            {
                "prompt": "a door opens",
                "model": "vidu/start-end-to-video-2.0",
                "image": start,
                "end_image": end,
                "wait": False,
            },
        )
    assert not result.is_error, text_of(result)
    (job,) = sim.state.predictions.values()
    assert job.params["images"] == [start, end]
    assert "image" not in job.params and "end_image" not in job.params
    (model,) = structured(listed)["models"]
    assert model["inputs"] == "image (images[0], images[1])"


async def test_image_edits_get_an_images_list_and_seedream_a_size_string(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(settings_for(sim, workspace))) as client:
        edit = await client.call_tool(
            "atlas_generate_image",
            {"prompt": "make it blue", "model": "google/nano-banana-2/edit", "image": FRAME},
        )
        sized = await client.call_tool(
            "atlas_generate_image",
            {"prompt": "a cat", "model": DATA_URL, "params": {"size": "2048*2048"}},
        )
        labels = await client.call_tool(
            "atlas_generate_image",
            {"prompt": "a cat", "model": DATA_URL, "params": {"width": 2048, "height": 2048}},
        )
    assert not edit.is_error and not sized.is_error, text_of(edit) + text_of(sized)
    bodies = {job.model: job.params for job in sim.state.predictions.values()}
    assert bodies["google/nano-banana-2/edit"]["images"] == [FRAME]
    assert bodies[DATA_URL]["size"] == "2048*2048"
    assert labels.is_error and "width" in text_of(labels)
    assert sim.state.count("generate") == 2  # the label names were refused before sending


async def test_a_prompt_less_call_is_still_priced_and_confirmed(
    sim: SimulatorServer, workspace: Path
) -> None:
    settings = settings_for(sim, workspace, confirm_above_usd=0.1)
    arguments = {"model": NO_PROMPT, "image": FRAME, "wait": False}
    async with Client(build_server(settings)) as client:
        refused = await client.call_tool("atlas_generate_video", arguments)
        confirmed = await client.call_tool(
            "atlas_generate_video", {**arguments, "confirm_cost": True}
        )
    assert refused.is_error and "about $0.28" in text_of(refused)
    assert not confirmed.is_error, text_of(confirmed)
    assert sim.state.count("generate") == 1


async def test_local_start_and_end_frames_are_uploaded_into_the_images_pair(
    sim: SimulatorServer, workspace: Path
) -> None:
    (workspace / "last.png").write_bytes((workspace / "photo.png").read_bytes() + b"end")
    async with Client(build_server(settings_for(sim, workspace))) as client:
        result = await client.call_tool(
            "atlas_generate_video",
            {
                "prompt": "a door opens",
                "model": "vidu/start-end-to-video-2.0",
                "image": "photo.png",
                "end_image": "last.png",
                "wait": False,
            },
        )
    assert not result.is_error, text_of(result)
    (job,) = sim.state.predictions.values()
    start, end = job.params["images"]
    assert start.startswith(sim.base_url) and end.startswith(sim.base_url) and start != end
    assert sim.state.count("upload") == 2
