"""Local files through the MCP tools, against the simulator over loopback: the upload
attack table (each refused with 0 upload requests), reuse, progress, frames given as
paths or URLs, client roots, and `save_to` (saved, or refused / failed leaving nothing)."""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import MODES, PNG, simulator_settings, structured, text_of
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import CallToolResult, ListRootsResult, ResourceLink, Root

import atlas_mcp_py.files.uploads as files_module
from atlas_mcp_py.config import Settings
from atlas_mcp_py.files.roots import AllowedRoots, CheckedPath
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import Fault, SimulatorServer

pytestmark = pytest.mark.anyio

PEM = b"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
SAMPLE_MP4 = (
    Path(__file__).resolve().parents[2] / "atlas_mcp_py" / "simulator" / "assets" / "sample.mp4"
)


@pytest.fixture
def sim_job_seconds() -> float:
    return 0.3


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """This module's root ("root", with videos/), beside `outside` and a look-alike."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "photo.png").write_bytes(PNG)
    (root / "videos").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "photo.png").write_bytes(PNG)
    evil = tmp_path / "root-evil"
    evil.mkdir()
    (evil / "photo.png").write_bytes(PNG)
    return root


def make_settings(sim: SimulatorServer, *roots: Path, **overrides: Any) -> Settings:
    """The shared simulator settings, without retries."""
    return simulator_settings(sim, *roots, **{"max_retries": 0, **overrides})


def listing(directory: Path) -> list[str]:
    """Everything in a directory tree, hidden temporary files included."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


async def upload(settings: Settings, path: str, mode: str = "legacy") -> CallToolResult:
    async with Client(build_server(settings), mode=mode) as client:
        with anyio.fail_after(10):
            return await client.call_tool("atlas_upload_media", {"path": path})


async def assert_refused(
    sim: SimulatorServer, settings: Settings, path: str, *reasons: str
) -> None:
    result = await upload(settings, path)
    text = text_of(result)
    assert result.is_error, text
    assert "Refused to upload" in text and "Nothing was sent" in text
    for reason in reasons:
        assert reason in text
    assert sim.state.count("upload") == 0


# -- the attack table ---------------------------------------------------------------------


async def test_upload_refuses_the_sibling_prefix_directory(
    sim: SimulatorServer, workspace: Path
) -> None:
    evil = workspace.parent / "root-evil" / "photo.png"
    await assert_refused(sim, make_settings(sim, workspace), str(evil), "outside the allowed")


async def test_upload_refuses_dot_dot_out_of_the_root(
    sim: SimulatorServer, workspace: Path
) -> None:
    settings = make_settings(sim, workspace)
    await assert_refused(sim, settings, "../outside/photo.png", "outside the allowed")


async def test_upload_refuses_a_nul_byte(sim: SimulatorServer, workspace: Path) -> None:
    await assert_refused(sim, make_settings(sim, workspace), "photo.png\x00.jpg", "NUL")


async def test_upload_refuses_a_symlink_to_outside(sim: SimulatorServer, workspace: Path) -> None:
    (workspace / "link.png").symlink_to(workspace.parent / "outside" / "photo.png")
    await assert_refused(sim, make_settings(sim, workspace), "link.png", "outside the allowed")


async def test_upload_refuses_a_symlinked_parent_directory(
    sim: SimulatorServer, workspace: Path
) -> None:
    (workspace / "shared").symlink_to(workspace.parent / "outside", target_is_directory=True)
    settings = make_settings(sim, workspace)
    await assert_refused(sim, settings, "shared/photo.png", "outside the allowed")


async def test_upload_refuses_a_symlink_swapped_in_after_the_check(
    sim: SimulatorServer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_check = files_module.check_upload_path

    def check_then_swap(roots: AllowedRoots, raw: str) -> CheckedPath:
        checked = real_check(roots, raw)  # the file passed every path check...
        os.unlink(checked.real)  # ...then an attacker swaps in a symlink to a secret
        checked.real.symlink_to(workspace.parent / "outside" / "photo.png")
        return checked

    monkeypatch.setattr(files_module, "check_upload_path", check_then_swap)
    await assert_refused(sim, make_settings(sim, workspace), "photo.png", "replaced by a symlink")


async def test_upload_refuses_a_fifo(sim: SimulatorServer, workspace: Path) -> None:
    os.mkfifo(workspace / "pipe.png")
    await assert_refused(sim, make_settings(sim, workspace), "pipe.png", "FIFO")


async def test_upload_refuses_dev_zero(sim: SimulatorServer, workspace: Path) -> None:
    await assert_refused(sim, make_settings(sim, workspace), "/dev/zero", "outside the allowed")
    sim.state.reset()
    await assert_refused(sim, make_settings(sim, workspace, Path("/dev")), "/dev/zero", "device")


async def test_upload_refuses_a_directory(sim: SimulatorServer, workspace: Path) -> None:
    await assert_refused(sim, make_settings(sim, workspace), "videos", "a directory")


async def test_upload_refuses_dot_env(sim: SimulatorServer, workspace: Path) -> None:
    (workspace / ".env").write_text("ATLASCLOUD_API_KEY=sk-live-123\n")
    await assert_refused(sim, make_settings(sim, workspace), ".env", "is a hidden name")


async def test_upload_refuses_ssh_id_rsa(sim: SimulatorServer, workspace: Path) -> None:
    (workspace / ".ssh").mkdir()
    (workspace / ".ssh" / "id_rsa").write_bytes(PEM)
    await assert_refused(sim, make_settings(sim, workspace), ".ssh/id_rsa", "is a hidden name")


async def test_upload_refuses_a_private_key_renamed_cat_jpg(
    sim: SimulatorServer, workspace: Path
) -> None:
    (workspace / "cat.jpg").write_bytes(PEM)
    await assert_refused(sim, make_settings(sim, workspace), "cat.jpg", "PEM key")


async def test_upload_refuses_an_oversize_sparse_file(
    sim: SimulatorServer, workspace: Path
) -> None:
    huge = workspace / "huge.png"
    huge.write_bytes(PNG)
    os.truncate(huge, 10 * 1024**3)  # sparse: no disk used
    await assert_refused(sim, make_settings(sim, workspace), "huge.png", "over the upload limit")


# -- streaming, reuse, progress -----------------------------------------------------------


async def test_the_same_bytes_uploaded_again_reuse_the_url_without_a_request(
    sim: SimulatorServer, workspace: Path
) -> None:
    shutil.copyfile(workspace / "photo.png", workspace / "copy.png")
    async with Client(build_server(make_settings(sim, workspace))) as client:
        first = await client.call_tool("atlas_upload_media", {"path": "photo.png"})
        again = await client.call_tool("atlas_upload_media", {"path": "photo.png"})
        copy = await client.call_tool("atlas_upload_media", {"path": "copy.png"})
        assert sim.state.count("upload") == 1
        (workspace / "photo.png").write_bytes(PNG + b"changed")
        changed = await client.call_tool("atlas_upload_media", {"path": "photo.png"})
    assert structured(first)["url"] == structured(again)["url"] == structured(copy)["url"]
    assert structured(changed)["url"] != structured(first)["url"]
    assert sim.state.count("upload") == 2


async def test_reuse_can_be_turned_off(sim: SimulatorServer, workspace: Path) -> None:
    settings = make_settings(sim, workspace, upload_reuse_seconds=0)
    async with Client(build_server(settings)) as client:
        await client.call_tool("atlas_upload_media", {"path": "photo.png"})
        await client.call_tool("atlas_upload_media", {"path": "photo.png"})
    assert sim.state.count("upload") == 2


@pytest.mark.parametrize("mode", MODES)
async def test_a_large_upload_reports_increasing_byte_progress(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    size = 3 * 1024 * 1024
    (workspace / "big.png").write_bytes(PNG.ljust(size, b"\x01"))
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Client(build_server(make_settings(sim, workspace)), mode=mode) as client:
        result = await client.call_tool(
            "atlas_upload_media", {"path": "big.png"}, progress_callback=on_progress
        )
    assert structured(result)["size_bytes"] == size
    assert seen and seen[-1][:2] == (size, size)
    assert all(b[0] > a[0] for a, b in itertools.pairwise(seen))
    assert all("Uploading big.png" in (m or "") for _, _, m in seen)
    (stored,) = sim.state.uploads.values()
    assert stored.size == size


# -- frames in generate -------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    ["file:///etc/passwd", "data:image/png;base64,iVBORw0KGgo=", "ftp://h/a.png", "javascript:x"],
)
async def test_a_frame_that_is_neither_http_nor_a_path_is_an_argument_error(
    sim: SimulatorServer, workspace: Path, image: str
) -> None:
    async with Client(build_server(make_settings(sim, workspace))) as client:
        result = await client.call_tool("atlas_generate_video", {"prompt": "x", "image": image})
    assert result.is_error
    assert "URLs are not accepted" in text_of(result)
    assert sim.state.count("upload") == sim.state.count("generate") == 0


async def test_an_http_frame_is_passed_through_untouched(
    sim: SimulatorServer, workspace: Path
) -> None:
    url = "https://cdn.example.com/frames/first.png?sig=a%2Fb"
    async with Client(build_server(make_settings(sim, workspace))) as client:
        result = await client.call_tool(
            "atlas_generate_video", {"prompt": "x", "image": url, "wait": False}
        )
    assert not result.is_error, text_of(result)
    (job,) = sim.state.predictions.values()
    assert job.params["image"] == url
    assert sim.state.count("upload") == 0


async def test_every_local_frame_is_checked_before_any_is_uploaded(
    sim: SimulatorServer, workspace: Path
) -> None:
    (workspace / ".env").write_text("SECRET=1\n")
    async with Client(build_server(make_settings(sim, workspace))) as client:
        result = await client.call_tool(
            "atlas_generate_video",
            {
                "prompt": "x",
                "model": "kwaivgi/kling-v3.0-std/image-to-video",  # takes a last frame
                "image": "photo.png",
                "end_image": ".env",
            },
        )
    assert result.is_error
    assert "`end_image`" in text_of(result) and "is a hidden name" in text_of(result)
    assert sim.state.count("upload") == sim.state.count("generate") == 0


# -- client roots -------------------------------------------------------------------------


def roots_callback(root: Path, calls: list[int]) -> Any:
    async def list_roots(context: ClientRequestContext) -> ListRootsResult:
        calls.append(1)
        return ListRootsResult(roots=[Root(uri=root.as_uri(), name="project")])

    return list_roots


async def test_client_roots_are_used_on_a_2025_connection_when_no_roots_are_configured(
    sim: SimulatorServer, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "photo.png").write_bytes(PNG)
    monkeypatch.chdir(cwd)
    calls: list[int] = []
    server = build_server(make_settings(sim))
    callback = roots_callback(workspace, calls)
    async with Client(server, mode="legacy", list_roots_callback=callback) as client:
        inside = await client.call_tool("atlas_upload_media", {"path": "photo.png"})
        in_cwd = await client.call_tool("atlas_upload_media", {"path": str(cwd / "photo.png")})
    assert not inside.is_error, text_of(inside)
    (stored,) = sim.state.uploads.values()
    assert stored.filename == "photo.png"
    assert in_cwd.is_error and "outside the allowed roots" in text_of(in_cwd)
    assert str(workspace) in text_of(in_cwd)
    assert calls == [1]  # asked once per connection


async def test_a_2026_connection_falls_back_to_the_working_directory(
    sim: SimulatorServer, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "here.png").write_bytes(PNG)
    monkeypatch.chdir(cwd)
    calls: list[int] = []
    server = build_server(make_settings(sim))
    callback = roots_callback(workspace, calls)
    async with Client(server, mode="auto", list_roots_callback=callback) as client:
        in_cwd = await client.call_tool("atlas_upload_media", {"path": "here.png"})
        in_client_root = await client.call_tool(
            "atlas_upload_media", {"path": str(workspace / "photo.png")}
        )
    assert not in_cwd.is_error, text_of(in_cwd)
    assert in_client_root.is_error
    assert calls == []


async def test_client_roots_outside_the_configured_roots_never_widen_them(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    calls: list[int] = []
    server = build_server(make_settings(sim, workspace))
    callback = roots_callback(tmp_path / "outside", calls)
    async with Client(server, mode="legacy", list_roots_callback=callback) as client:
        result = await client.call_tool("atlas_upload_media", {"path": "photo.png"})
        outside = await client.call_tool(
            "atlas_upload_media", {"path": str(tmp_path / "outside" / "photo.png")}
        )
    assert not result.is_error, text_of(result)
    assert outside.is_error and "outside the allowed roots" in text_of(outside)
    assert calls == [1]


# -- save_to ------------------------------------------------------------------------------


async def generate(settings: Settings, mode: str = "legacy", **arguments: Any) -> CallToolResult:
    async with Client(build_server(settings), mode=mode) as client:
        with anyio.fail_after(20):
            return await client.call_tool("atlas_generate_video", {"prompt": "a fox", **arguments})


@pytest.mark.parametrize("mode", MODES)
async def test_save_to_a_directory_writes_the_video_under_a_safe_name(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    result = await generate(make_settings(sim, workspace), mode, save_to="videos")
    data = structured(result)
    assert not result.is_error, text_of(result)
    pid = data["prediction_id"]
    saved = workspace / "videos" / f"minimax-hailuo-02-t2v-standard-{pid}.mp4"
    assert data["local_path"] == str(saved)
    assert saved.read_bytes() == SAMPLE_MP4.read_bytes()
    assert data["size_bytes"] == saved.stat().st_size
    assert data["video_url"]  # the URL stays in the result
    links = [b for b in result.content if isinstance(b, ResourceLink)]
    assert [str(link.uri) for link in links] == [f"atlas://jobs/{pid}"]
    assert listing(workspace / "videos") == [saved.name]
    downloads = [r for r in sim.state.requests if r.endpoint == "file"]
    assert downloads and not any(r.authorized for r in downloads)  # no API key sent


async def test_save_to_a_new_file_path_creates_its_directories(
    sim: SimulatorServer, workspace: Path
) -> None:
    result = await generate(make_settings(sim, workspace), save_to="renders/today/fox.mp4")
    assert structured(result)["local_path"] == str(workspace / "renders" / "today" / "fox.mp4")
    assert (workspace / "renders" / "today" / "fox.mp4").read_bytes() == SAMPLE_MP4.read_bytes()


async def test_a_file_name_with_the_wrong_extension_gets_the_right_one(
    sim: SimulatorServer, workspace: Path
) -> None:
    result = await generate(make_settings(sim, workspace), save_to="videos/fox.webm")
    assert structured(result)["local_path"] == str(workspace / "videos" / "fox.mp4")


async def test_check_status_saves_a_finished_job(sim: SimulatorServer, workspace: Path) -> None:
    async with Client(build_server(make_settings(sim, workspace))) as client:
        submitted = await client.call_tool(
            "atlas_generate_video", {"prompt": "x", "wait": False, "save_to": "videos"}
        )
        pid = structured(submitted)["prediction_id"]
        assert "not ready" in text_of(submitted)
        sim.state.complete(pid)
        done = await client.call_tool(
            "atlas_check_status", {"prediction_id": pid, "save_to": "videos/done.mp4"}
        )
    assert structured(done)["local_path"] == str(workspace / "videos" / "done.mp4")
    assert listing(workspace / "videos") == ["done.mp4"]


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (Fault(endpoint="file", kind="drop"), "broke off"),
        (Fault(endpoint="file", kind="html_error", status=502), "HTTP 502"),
        (Fault(endpoint="file", kind="html_error", status=200), "HTML page"),
    ],
    ids=["connection dropped mid-body", "HTML error page", "HTML page served as 200"],
)
async def test_a_failed_download_leaves_nothing_and_keeps_the_job(
    sim: SimulatorServer, workspace: Path, fault: Fault, says: str
) -> None:
    sim.state.add_fault(fault)
    result = await generate(make_settings(sim, workspace), save_to="videos/new/fox.mp4")
    data = structured(result)
    assert not result.is_error  # the job succeeded; only the save failed
    assert data["status"] == "completed" and data["video_url"]
    assert "local_path" not in data  # null fields are left out
    assert any(says in note and "Nothing was written" in note for note in data["notes"])
    assert "atlas_check_status" in text_of(result)
    assert listing(workspace / "videos") == []  # no file, no temp file, no created directory


async def test_an_oversize_download_leaves_nothing(sim: SimulatorServer, workspace: Path) -> None:
    settings = make_settings(sim, workspace, max_download_bytes=1000)
    result = await generate(settings, save_to="videos")
    assert any("download limit" in note for note in structured(result)["notes"])
    assert listing(workspace / "videos") == []


async def test_an_existing_file_is_refused_before_anything_is_sent(
    sim: SimulatorServer, workspace: Path
) -> None:
    (workspace / "videos" / "fox.mp4").write_bytes(b"keep me")
    result = await generate(make_settings(sim, workspace), save_to="videos/fox.mp4")
    assert result.is_error
    assert "already exists" in text_of(result) and "overwrite" in text_of(result)
    assert sim.state.count("generate") == 0
    assert (workspace / "videos" / "fox.mp4").read_bytes() == b"keep me"


async def test_overwrite_replaces_an_existing_file(sim: SimulatorServer, workspace: Path) -> None:
    (workspace / "videos" / "fox.mp4").write_bytes(b"old")
    result = await generate(make_settings(sim, workspace), save_to="videos/fox.mp4", overwrite=True)
    assert not result.is_error, text_of(result)
    assert (workspace / "videos" / "fox.mp4").read_bytes() == SAMPLE_MP4.read_bytes()
    assert listing(workspace / "videos") == ["fox.mp4"]


async def test_a_symlink_at_the_destination_is_never_written_through(
    sim: SimulatorServer, workspace: Path
) -> None:
    target = workspace / "important.mp4"
    target.write_bytes(b"precious")
    (workspace / "videos" / "fox.mp4").symlink_to(target)
    result = await generate(make_settings(sim, workspace), save_to="videos/fox.mp4", overwrite=True)
    assert result.is_error and "is a symlink; nothing is ever written" in text_of(result)
    assert sim.state.count("generate") == 0
    assert target.read_bytes() == b"precious"


@pytest.mark.parametrize(
    ("save_to", "says"),
    [
        ("../outside/fox.mp4", "outside the allowed roots"),
        ("../root-evil/fox.mp4", "outside the allowed roots"),
        (".git/hooks/fox.mp4", "is a hidden name"),
        ("videos/.fox.mp4", "is a hidden name"),
        ("videos/x\x00.mp4", "NUL"),
    ],
)
async def test_a_destination_outside_or_hidden_is_refused_before_anything_is_sent(
    sim: SimulatorServer, workspace: Path, save_to: str, says: str
) -> None:
    result = await generate(make_settings(sim, workspace), save_to=save_to)
    assert result.is_error and says in text_of(result)
    assert sim.state.count("generate") == 0


async def test_tools_that_can_save_a_file_do_not_claim_to_be_read_only(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(make_settings(sim, workspace))) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name in ("atlas_generate_video", "atlas_check_status"):
        annotations = tools[name].annotations
        assert "save_to" in tools[name].input_schema["properties"]
        assert annotations is not None and not annotations.read_only_hint  # absent = false
