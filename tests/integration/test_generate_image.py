"""`atlas_generate_image` through the MCP tools, both protocol eras, against the simulator
over loopback: progress and a saved PNG, inline (`data:`) outputs decoded into files and
never into results or the ledger, image jobs in `atlas_check_status`, the still -> video
flow, and the refusals that come before any billing."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
from helpers import MODES, simulator_settings, structured, text_of
from mcp import Client
from mcp.types import CallToolResult, ResourceLink

from atlas_mcp_py.config import DEFAULT_IMAGE_MODEL
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SimulatorServer
from atlas_mcp_py.simulator.jobs import ASSETS_DIR

pytestmark = pytest.mark.anyio

SIM_PNG = (ASSETS_DIR / "sample.png").read_bytes()
"""What the simulator's image models make (a real 128x128 PNG)."""
EDIT_MODEL = "google/nano-banana/edit"
INLINE = {"enable_base64_output": True}


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "ledger-state"


def ledger_rows(state_dir: Path) -> list[Any]:
    with Ledger.open(Ledger.default_path(state_dir)) as ledger:
        return ledger.recent(100)


def content(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def eventually(condition: Callable[[], bool]) -> None:
    """Return once `condition()` holds (callers bound the wait with fail_after)."""
    while True:
        if condition():
            return
        await anyio.sleep(0.01)


def no_inline_data(result: Any) -> None:
    """Neither the text nor the structured content carries base64 image data."""
    dumped = json.dumps(structured(result)) + text_of(result)
    assert "data:image" not in dumped and ";base64," not in dumped


@pytest.mark.parametrize("mode", MODES)
async def test_an_image_is_generated_with_progress_and_saved_as_a_png(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    values: list[float] = []
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        values.append(progress)
        messages.append(message or "")

    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        result = await client.call_tool(
            "atlas_generate_image",
            {"prompt": "a blue mug on a desk", "save_to": "stills/mug.png"},
            progress_callback=on_progress,
        )
    data = structured(result)
    assert not result.is_error, text_of(result)
    assert data["status"] == "completed" and data["model"] == DEFAULT_IMAGE_MODEL
    assert data["image_url"] == data["outputs"][0] and data["image_url"].endswith(".png")
    assert "video_url" not in data
    assert data["local_path"] == str(workspace / "stills" / "mug.png")
    assert (workspace / "stills" / "mug.png").read_bytes() == SIM_PNG
    assert "Image ready" in text_of(result)
    links = [b for b in result.content if isinstance(b, ResourceLink)]
    assert [(str(b.uri), b.mime_type) for b in links] == [
        (f"atlas://jobs/{data['prediction_id']}", "application/json")
    ]
    assert len(values) >= 2 and all(b > a for a, b in itertools.pairwise(values))
    assert any("completed" in m for m in messages)
    (post,) = [r for r in sim.state.requests if r.endpoint == "generate"]
    assert post.path == "/api/v1/model/generateImage"


@pytest.mark.parametrize("mode", MODES)
async def test_inline_base64_output_is_decoded_into_save_to_never_into_the_result_or_ledger(
    sim: SimulatorServer, workspace: Path, state_dir: Path, mode: str
) -> None:
    settings = simulator_settings(sim, workspace, state_dir=state_dir)
    async with Client(build_server(settings), mode=mode) as client:
        result = await client.call_tool(
            "atlas_generate_image",
            {"prompt": "a mug", "params": INLINE, "save_to": "stills/"},
        )
        listed = await client.call_tool("atlas_list_jobs", {})
    (job,) = sim.state.predictions.values()
    assert job.outputs is not None and job.outputs[0].startswith("data:image/png;base64,")
    data = structured(result)
    assert not result.is_error, text_of(result)
    saved = Path(data["local_path"])
    assert saved.parent == workspace / "stills" and saved.suffix == ".png"
    assert content(saved) == SIM_PNG
    assert data["outputs"] == [str(saved)]
    assert data.get("image_url") is None  # no URL: the image came as data
    assert str(saved) in text_of(result)
    no_inline_data(result)
    no_inline_data(listed)
    (row,) = ledger_rows(state_dir)
    assert row.local_path == str(saved)
    assert all(not o.startswith("data:") and len(o) < 200 for o in row.outputs)
    assert row.outputs and "image/png" in row.outputs[0]


async def test_inline_output_without_save_to_lands_in_the_first_root_once(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    second_root = tmp_path / "other-root"
    second_root.mkdir()
    settings = simulator_settings(sim, workspace, second_root)
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("atlas_generate_image", {"prompt": "x", "params": INLINE})
        pid = structured(result)["prediction_id"]
        again = await client.call_tool("atlas_check_status", {"prediction_id": pid})
    saved = Path(structured(result)["local_path"])
    assert saved.parent == workspace and content(saved) == SIM_PNG
    assert pid in saved.name
    assert structured(again)["local_path"] == str(saved)  # the same bytes: kept, not copied
    assert names_in(workspace) == sorted(["photo.png", saved.name])
    no_inline_data(result)
    no_inline_data(again)


async def test_inline_output_that_cannot_be_saved_is_reported_and_still_not_pasted(
    sim: SimulatorServer, workspace: Path
) -> None:
    results: list[CallToolResult] = []
    async with Client(build_server(simulator_settings(sim, workspace))) as client:

        async def generate() -> None:
            arguments = {"prompt": "x [sim:never]", "params": INLINE, "save_to": "taken.png"}
            results.append(await client.call_tool("atlas_generate_image", arguments))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(generate)
                await eventually(lambda: bool(sim.state.predictions))
                # save_to was free when checked; the name is taken while the job runs
                (workspace / "taken.png").write_bytes(b"someone else's file")
                sim.state.complete(next(iter(sim.state.predictions)))
    (result,) = results
    assert not result.is_error
    data = structured(result)
    assert data["status"] == "completed" and data.get("local_path") is None
    assert "already exists" in text_of(result) and "save_to" in text_of(result)
    assert data["outputs"][0].startswith("(inline image/png data")
    assert (workspace / "taken.png").read_bytes() == b"someone else's file"
    no_inline_data(result)


@pytest.mark.parametrize("mode", MODES)
async def test_check_status_finishes_an_image_job_and_says_image(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        started = await client.call_tool(
            "atlas_generate_image", {"prompt": "a cat [sim:never]", "wait": False}
        )
        pid = structured(started)["prediction_id"]
        assert structured(started)["status"] == "processing"
        sim.state.complete(pid)
        done = await client.call_tool(
            "atlas_check_status", {"prediction_id": pid, "wait": True, "save_to": "cat.png"}
        )
    data = structured(done)
    assert data["status"] == "completed" and data["image_url"] == data["outputs"][0]
    assert "video_url" not in data
    assert "Image ready" in text_of(done)
    assert (workspace / "cat.png").read_bytes() == SIM_PNG


@pytest.mark.parametrize("mode", MODES)
async def test_a_generated_still_is_animated_when_passed_as_a_local_path(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        still = await client.call_tool(
            "atlas_generate_image", {"prompt": "a mug", "params": INLINE, "save_to": "mug.png"}
        )
        path = structured(still)["local_path"]
        video = await client.call_tool(
            "atlas_generate_video", {"prompt": "the mug turns slowly", "image": path}
        )
    assert not video.is_error, text_of(video)
    assert structured(video)["status"] == "completed" and structured(video)["video_url"]
    (upload,) = sim.state.uploads.values()
    assert upload.sha256 == hashlib.sha256(SIM_PNG).hexdigest()
    job = next(p for p in sim.state.predictions.values() if p.model_type == "Video")
    assert job.params["image"].startswith(sim.base_url)


async def test_a_generated_image_url_is_accepted_as_the_video_frame(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        still = await client.call_tool("atlas_generate_image", {"prompt": "a mug"})
        url = structured(still)["image_url"]
        assert "The image URL expires on" in text_of(still)  # not saved: keep it in time
        video = await client.call_tool("atlas_generate_video", {"prompt": "spin", "image": url})
    assert not video.is_error, text_of(video)
    job = next(p for p in sim.state.predictions.values() if p.model_type == "Video")
    assert job.params["image"] == url
    assert sim.state.count("upload") == 0


async def test_an_edit_model_gets_the_reference_image_under_its_own_parameter(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        result = await client.call_tool(
            "atlas_generate_image",
            {"prompt": "make it red", "model": EDIT_MODEL, "image": "photo.png"},
        )
    assert not result.is_error, text_of(result)
    (job,) = sim.state.predictions.values()
    (url,) = job.params["images"]  # the model takes a list named `images`
    assert url.startswith(sim.base_url)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"model": "minimax/hailuo-02/t2v-standard"}, "atlas_generate_video"),
        ({"model": EDIT_MODEL}, "input image"),
        ({"params": {"aspect_ratio": "7:3"}}, "aspect_ratio"),
        ({"model": "no/such-model"}, "atlas_list_models"),
    ],
)
async def test_image_requests_that_cannot_work_are_refused_before_billing(
    sim: SimulatorServer, workspace: Path, arguments: dict[str, Any], named: str
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        result = await client.call_tool("atlas_generate_image", {"prompt": "a mug", **arguments})
    assert result.is_error
    assert named in text_of(result) and "Nothing was sent" in text_of(result)
    assert sim.state.count("generate") == sim.state.count("upload") == 0


async def test_the_video_tool_points_an_image_model_to_the_image_tool(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        result = await client.call_tool(
            "atlas_generate_video", {"prompt": "a mug", "model": DEFAULT_IMAGE_MODEL}
        )
    assert result.is_error and "atlas_generate_image" in text_of(result)
    assert sim.state.count("generate") == 0


async def test_the_image_model_is_configurable(sim: SimulatorServer, workspace: Path) -> None:
    settings = simulator_settings(sim, workspace, image_model="bytedance/seedream-v4.5")
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("atlas_generate_image", {"prompt": "x", "dry_run": True})
    assert structured(result)["model"] == "bytedance/seedream-v4.5"
    assert structured(result)["request"]["model"] == "bytedance/seedream-v4.5"


@pytest.mark.parametrize("mode", MODES)
async def test_list_models_shows_what_each_image_model_takes(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        result = await client.call_tool("atlas_list_models", {"type": "image"})
    models = {m["id"]: m for m in structured(result)["models"]}
    assert all(m["type"] == "image" for m in models.values())
    assert DEFAULT_IMAGE_MODEL in models and EDIT_MODEL in models
    assert models[DEFAULT_IMAGE_MODEL]["price"] == pytest.approx(0.039)
    assert models[EDIT_MODEL]["inputs"] == "image (images)"  # the image goes into `images`
    assert models["bytedance/seedream-v5.0-lite/edit"]["inputs"] == "image (image)"
    assert models[DEFAULT_IMAGE_MODEL]["inputs"] == "text"


async def test_listed_schemas_stay_exact_where_it_matters(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        empty = await client.call_tool("atlas_generate_image", {"prompt": ""})
        running = await client.call_tool(
            "atlas_generate_image", {"prompt": "x [sim:never]", "wait": False}
        )
    outputs = {name: tool.output_schema or {} for name, tool in tools.items()}
    assert "video_url" not in outputs["atlas_generate_image"]["properties"]
    assert "image_url" not in outputs["atlas_generate_video"]["properties"]
    assert {"video_url", "image_url"} <= set(outputs["atlas_check_status"]["properties"])
    assert "request" not in outputs["atlas_check_status"]["properties"]  # dry runs only
    # "not empty" is left out of the listing, and still enforced
    assert "minLength" not in tools["atlas_generate_image"].input_schema["properties"]["prompt"]
    assert empty.is_error and sim.state.count("generate") == 1
    # a result with null fields validates against the listed (untyped-when-nullable) schema
    jsonschema.validate(structured(running), outputs["atlas_generate_image"])
    assert structured(running).get("image_url") is None


async def test_an_identical_inline_request_is_not_paid_twice_and_finds_its_file_again(
    sim: SimulatorServer, workspace: Path
) -> None:
    arguments = {"prompt": "a mug", "params": INLINE}
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        first = await client.call_tool("atlas_generate_image", arguments)
        again = await client.call_tool("atlas_generate_image", arguments)
    assert sim.state.count("generate") == 1
    assert "Not sent again" in text_of(again)
    assert structured(again)["prediction_id"] == structured(first)["prediction_id"]
    # the ledger kept no image data: the earlier job's is read from Atlas again
    assert structured(again)["local_path"] == structured(first)["local_path"]
    no_inline_data(again)


async def test_a_running_image_job_checked_by_id_is_an_image_job_everywhere(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        started = await client.call_tool(
            "atlas_generate_image", {"prompt": "slow [sim:never]", "wait": False}
        )
        pid = structured(started)["prediction_id"]
        running = await client.call_tool(
            "atlas_check_status", {"prediction_id": pid, "save_to": "later.png"}
        )
        sim.state.complete(pid)
        await client.call_tool("atlas_check_status", {"prediction_id": pid})
        listed = await client.call_tool("atlas_list_jobs", {})
        resource = await client.read_resource(f"atlas://jobs/{pid}")
    assert "the image is not ready" in text_of(running) and "video_url" not in structured(running)
    (job,) = structured(listed)["jobs"]
    assert job["image_url"].endswith(".png") and "video_url" not in job
    document = json.loads(getattr(resource.contents[0], "text", ""))
    assert document["image_url"] == job["image_url"]


@pytest.mark.parametrize("mode", MODES)
async def test_an_image_still_running_at_the_wait_limit_is_handed_to_check_status(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
        result = await client.call_tool(
            "atlas_generate_image", {"prompt": "x [sim:never]", "max_wait_seconds": 0.5}
        )
    data = structured(result)
    assert not result.is_error and data["status"] == "processing"
    assert f'atlas_check_status with prediction_id "{data["prediction_id"]}"' in text_of(result)
    assert sim.state.count("generate") == 1


async def test_an_inline_image_with_nowhere_to_go_is_reported_never_pasted(
    sim: SimulatorServer,
) -> None:
    # over HTTP without ATLAS_MCP_ROOTS the server writes no local file at all
    settings = simulator_settings(sim)
    async with Client(build_server(settings, over_http=True)) as client:
        result = await client.call_tool("atlas_generate_image", {"prompt": "x", "params": INLINE})
    data = structured(result)
    assert not result.is_error and data["status"] == "completed"
    assert data.get("local_path") is None
    assert data["outputs"][0].startswith("(inline image/png data")
    assert "ATLAS_MCP_ROOTS" in text_of(result)
    no_inline_data(result)


async def test_a_taken_save_to_is_refused_with_what_the_image_tool_can_do(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        result = await client.call_tool(
            "atlas_generate_image", {"prompt": "x", "save_to": "photo.png"}
        )
    assert result.is_error and "Nothing was sent" in text_of(result)
    assert "give another save_to" in text_of(result)  # it takes no overwrite argument
    assert "atlas_check_status" in text_of(result) and "overwrite: true" in text_of(result)
    assert sim.state.count("generate") == 0
