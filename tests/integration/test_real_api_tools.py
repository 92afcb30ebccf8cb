"""Issue 12 through the MCP tools, in both protocol eras, against the simulator of the real
API: the text-to-video route, frames mapped onto each model's own parameters, refusals
before any POST, models that say what they take, request ids, the balance, expiry."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import MODES, PNG, simulator_settings, structured, text_of
from mcp import Client

from atlas_mcp_py.doctor import run_checks
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, Fault, SimulatorServer

pytestmark = pytest.mark.anyio

HAILUO = "minimax/hailuo-02/fast"
T2V = "minimax/hailuo-02/t2v-standard"
KLING = "kwaivgi/kling-v3.0-std/image-to-video"
MOTION = "kwaivgi/kling-v2.6-pro/motion-control"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 40
MP4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 40


def posts(sim: SimulatorServer) -> int:
    """Every POST the simulator received (uploads and generates, refused ones too)."""
    return sum(1 for r in sim.state.requests if r.method == "POST")


async def call(
    sim: SimulatorServer, workspace: Path, mode: str, tool: str, args: Any, **kw: Any
) -> Any:
    settings = simulator_settings(sim, workspace, state_dir=workspace.parent / "state", **kw)
    async with Client(build_server(settings), mode=mode) as client:
        return await client.call_tool(tool, args)


@pytest.mark.parametrize("mode", MODES)
async def test_make_a_video_with_no_model_and_no_image_takes_the_text_to_video_route(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    result = await call(sim, workspace, mode, "atlas_generate_video", {"prompt": "a paper boat"})
    data = structured(result)
    assert not result.is_error, text_of(result)
    assert data["status"] == "completed" and data["model"] == T2V
    (job,) = sim.state.predictions.values()
    assert job.model == T2V and job.params == {"prompt": "a paper boat"}
    text = text_of(result)
    assert T2V in text and "ATLAS_MCP_TEXT_MODEL" in text and "estimated $0.20" in text
    # the schema came from the other host, which never saw the key
    static = [r for r in sim.state.requests if r.host == "static"]
    assert static and all(r.credential is None for r in static)


@pytest.mark.parametrize("mode", MODES)
async def test_a_local_png_goes_to_hailuo_fast_as_an_uploaded_image_and_nothing_else(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    result = await call(
        sim, workspace, mode, "atlas_generate_video", {"prompt": "it floats", "image": "photo.png"}
    )
    assert not result.is_error, text_of(result)
    (job,) = sim.state.predictions.values()
    assert job.model == HAILUO
    assert set(job.params) == {"prompt", "image"}  # no resolution, no end_image
    assert job.params["image"].startswith(sim.base_url)
    assert sim.state.count("upload") == 1


@pytest.mark.parametrize("mode", MODES)
async def test_kling_gets_its_wire_names_image_and_end_image_never_its_ui_labels(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    (workspace / "last.png").write_bytes(PNG + b"last")
    result = await call(
        sim,
        workspace,
        mode,
        "atlas_generate_video",
        {
            "prompt": "x",
            "model": KLING,
            "image": "photo.png",
            "end_image": "last.png",
            "wait": False,
        },
    )
    assert not result.is_error, text_of(result)
    (job,) = sim.state.predictions.values()
    assert {"image", "end_image"} <= set(job.params)  # Kling v3.0 POSTs these
    assert "image_url" not in job.params and "end_image_url" not in job.params  # its labels
    assert all(job.params[n].startswith(sim.base_url) for n in ("image", "end_image"))


async def test_a_local_video_in_params_is_uploaded_too(
    sim: SimulatorServer, workspace: Path
) -> None:
    (workspace / "dance.mp4").write_bytes(MP4)
    args = {"prompt": "x", "model": MOTION, "image": "photo.png", "params": {"video": "dance.mp4"}}
    result = await call(sim, workspace, "legacy", "atlas_generate_video", {**args, "wait": False})
    assert not result.is_error, text_of(result)
    (job,) = sim.state.predictions.values()
    assert job.params["video"].startswith(sim.base_url) and sim.state.count("upload") == 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("args", "said"),
    [
        ({"image": "frame.webp"}, "`image` takes JPG, PNG only, not WEBP"),
        ({"image": "https://cdn.example.com/f.webp"}, "`image` takes JPG, PNG only, not WEBP"),
        ({"image": "photo.png", "duration": 7}, "'duration' must be one of 6, 10, got 7"),
        (
            {"image": "photo.png", "params": {"enable_sync_mode": True}},
            "'enable_sync_mode' is set by Atlas itself",
        ),
        ({"image": "photo.png", "resolution": "512P"}, "unknown parameter 'resolution'"),
        ({"image": "photo.png", "end_image": "photo.png"}, "takes no last frame"),
        ({"model": HAILUO}, "use a text-to-video model: "),
    ],
    ids=["webp_file", "webp_url", "enum", "hidden", "resolution", "end_image", "no_frame"],
)
async def test_what_the_model_would_refuse_is_refused_with_zero_posts(
    sim: SimulatorServer, workspace: Path, mode: str, args: dict[str, Any], said: str
) -> None:
    (workspace / "frame.webp").write_bytes(WEBP)
    result = await call(sim, workspace, mode, "atlas_generate_video", {"prompt": "p", **args})
    assert result.is_error
    assert said in text_of(result) and "Nothing was sent" in text_of(result)
    assert posts(sim) == 0


async def test_a_frame_over_the_parameter_s_size_limit_is_refused_before_any_upload(
    sim: SimulatorServer, workspace: Path
) -> None:
    big = workspace / "big.png"
    with big.open("wb") as file:  # 21 MB, sparse: Hailuo takes up to 20 MB
        file.write(PNG)
        file.truncate(21 * 1024 * 1024)
    args = {"prompt": "p", "image": "big.png"}
    result = await call(sim, workspace, "legacy", "atlas_generate_video", args)
    assert "`image` takes files up to 20 MB, not 21.0 MB" in text_of(result)
    assert posts(sim) == 0


async def test_end_image_on_a_model_without_a_last_frame_names_models_that_take_one(
    sim: SimulatorServer, workspace: Path
) -> None:
    args = {"prompt": "p", "image": "photo.png", "end_image": "photo.png"}
    result = await call(sim, workspace, "legacy", "atlas_generate_video", args)
    named = text_of(result).split("Models that take one: ")[1]
    assert "vidu/start-end-to-video-2.0 ($0.2/generation; last frame `images[1]`)" in named
    seedance = "bytedance/seedance-v1-lite-i2v-1080p ($0.036/second, at least 5 s; last frame"
    assert f"{seedance} `last_image`)" in named
    assert HAILUO not in named and posts(sim) == 0


async def test_an_image_model_without_a_frame_names_text_models_with_prices_cheapest_first(
    sim: SimulatorServer, workspace: Path
) -> None:
    result = await call(
        sim, workspace, "legacy", "atlas_generate_video", {"prompt": "p", "model": HAILUO}
    )
    text = text_of(result)
    named = text.split("use a text-to-video model: ")[1]
    # per-second prices compared as a 5 s video: 0.196 < 0.052 * 5
    assert named.startswith("alibaba/wan-2.2/t2v-480p ($0.15/generation), ")
    assert named.index(f"{T2V} ($0.196/generation)") < named.index("($0.052/second)")


@pytest.mark.parametrize("mode", MODES)
async def test_list_models_says_what_each_model_makes_video_from_and_its_frames(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    result = await call(sim, workspace, mode, "atlas_list_models", {"limit": 50})
    models = {m["id"]: m for m in structured(result)["models"]}
    assert models[HAILUO]["inputs"] == "image (image)"
    assert models[T2V]["inputs"] == "text"
    assert models[KLING]["inputs"] == "image (image, end_image)"
    assert models["bytedance/seedance-v1-lite-i2v-1080p"]["inputs"] == "image (image, last_image)"
    assert models[MOTION]["inputs"] == "image (image), video"
    assert models["kwaivgi/kling-v2.6-std/avatar"]["inputs"] == "image (image), audio"


@pytest.mark.parametrize("mode", MODES)
async def test_an_atlas_error_names_its_request_id_and_the_ledger_keeps_the_generate_s(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    sim.state.add_fault(Fault(endpoint="generate", kind="json_error", status=400, message="no"))
    refused = await call(sim, workspace, mode, "atlas_generate_video", {"prompt": "a"})
    (rejected,) = [r for r in sim.state.requests if r.endpoint == "generate"]
    assert rejected.request_id and rejected.request_id in text_of(refused)
    done = await call(sim, workspace, mode, "atlas_generate_video", {"prompt": "b", "wait": False})
    pid = structured(done)["prediction_id"]
    with Ledger.open(Ledger.default_path(workspace.parent / "state")) as ledger:
        row = ledger.get(pid)
    assert row is not None and row.request_id == sim.state.predictions[pid].request_id != ""


@pytest.mark.parametrize("mode", MODES)
async def test_a_404_on_generate_says_the_model_is_not_available_to_the_account(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    sim.state.set_model_available(T2V, False)
    result = await call(sim, workspace, mode, "atlas_generate_video", {"prompt": "a"})
    assert "not available to this account" in text_of(result)


@pytest.mark.parametrize("mode", MODES)
async def test_a_base_url_ending_in_api_v1_is_reported_as_a_wrong_base_url(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    result = await call(
        sim, workspace, mode, "atlas_list_models", {}, base_url=f"{sim.base_url}/api/v1"
    )
    assert result.is_error and "ATLASCLOUD_BASE_URL" in text_of(result)
    assert "API key" not in text_of(result)


@pytest.mark.parametrize("mode", MODES)
async def test_a_402_says_the_balance(sim: SimulatorServer, workspace: Path, mode: str) -> None:
    sim.state.set_balance(0.05)
    result = await call(sim, workspace, mode, "atlas_generate_video", {"prompt": "a"})
    assert result.is_error and "(402)" in text_of(result) and "available: $0.05" in text_of(result)


@pytest.mark.parametrize("mode", MODES)
async def test_check_status_and_list_jobs_say_when_a_video_expires_and_when_it_has(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    done = await call(sim, workspace, mode, "atlas_generate_video", {"prompt": "a"})
    pid = structured(done)["prediction_id"]
    assert "expires on" in text_of(done) and "save_to" in text_of(done)
    path = Ledger.default_path(workspace.parent / "state")
    db = sqlite3.connect(path)  # as if two weeks had passed
    db.execute("UPDATE jobs SET expires_at = ? WHERE prediction_id = ?", (time.time() - 60, pid))
    db.commit()
    db.close()
    sim.state.expire_outputs(pid)
    checked = await call(sim, workspace, mode, "atlas_check_status", {"prediction_id": pid})
    listed = await call(sim, workspace, mode, "atlas_list_jobs", {})
    assert "expired on" in text_of(checked) and "can no longer be downloaded" in text_of(checked)
    (job,) = structured(listed)["jobs"]
    assert job["expires"].startswith("expired: ")


async def test_doctor_checks_the_key_with_the_balance_and_spots_a_wrong_base_url(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    env = {"ATLASCLOUD_API_KEY": SIMULATOR_API_KEY, "ATLAS_MCP_STATE_DIR": str(tmp_path)}
    good = {c.name: c for c in await run_checks({**env, "ATLASCLOUD_BASE_URL": sim.base_url})}
    assert good["API key accepted"].status == "OK"
    assert "balance $100.00 available" in good["API key accepted"].detail
    assert any(r.path == "/public/v1/balance" and r.authorized for r in sim.state.requests)
    wrong = {
        c.name: c
        for c in await run_checks({**env, "ATLASCLOUD_BASE_URL": f"{sim.base_url}/api/v1"})
    }
    assert wrong["Atlas API"].status == "FAIL" and "without /api/v1" in wrong["Atlas API"].fix
    assert "the base URL is wrong" in wrong["Atlas API"].detail


async def test_saving_an_output_atlas_expired_early_says_it_is_gone(
    sim: SimulatorServer, workspace: Path
) -> None:
    done = await call(sim, workspace, "legacy", "atlas_generate_video", {"prompt": "a"})
    pid = structured(done)["prediction_id"]
    sim.state.expire_outputs(pid)  # e.g. a shorter X-AtlasCloud-Object-Expiration-Hours
    args = {"prediction_id": pid, "save_to": "late.mp4"}
    checked = await call(sim, workspace, "legacy", "atlas_check_status", args)
    assert "answered HTTP 404: Atlas no longer serves it" in text_of(checked)
    assert not (workspace / "late.mp4").exists()
