"""Which local files the tools may touch, through the MCP tools against the simulator:
client roots on stdio (never `/` or the home directory, narrowing ATLAS_MCP_ROOTS), the
working directory as the last fallback, hard links, and a platform without the
descriptor-relative opens the file tools need (Windows). Over HTTP: tests/e2e/
test_http_file_access.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import PNG, simulator_settings, structured, text_of
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import CallToolResult, ListRootsResult, Root

from atlas_mcp_py.config import Settings
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.server.http import create_http_app
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def sim_job_seconds() -> float:
    return 0.2


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/{project,elsewhere,cwd} each holding photo.png; returns tmp."""
    for name in ("project", "elsewhere", "cwd"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "photo.png").write_bytes(PNG)
    return tmp_path


def offering(*uris: str) -> Any:
    """A client's roots callback answering `uris`; counts its calls in `.calls`."""
    calls: list[int] = []

    async def list_roots(context: ClientRequestContext) -> ListRootsResult:
        calls.append(1)
        return ListRootsResult(roots=[Root(uri=uri) for uri in uris])

    list_roots.calls = calls  # type: ignore[attr-defined]
    return list_roots


async def calls(settings: Settings, roots: Any, *steps: tuple[str, dict[str, Any]]) -> list[Any]:
    """Each (tool, arguments) called in turn on one legacy connection offering `roots`."""
    results: list[CallToolResult] = []
    async with Client(build_server(settings), mode="legacy", list_roots_callback=roots) as c:
        for tool, arguments in steps:
            with anyio.fail_after(20):
                results.append(await c.call_tool(tool, arguments))
    return results


def upload(path: Path | str) -> tuple[str, dict[str, Any]]:
    return ("atlas_upload_media", {"path": str(path)})


def refused(result: CallToolResult, *reasons: str) -> bool:
    text = text_of(result)
    return result.is_error and "Nothing was sent" in text and all(r in text for r in reasons)


# -- client roots on stdio ----------------------------------------------------------------


BROAD = {"/": "a filesystem root", "home": "the home directory"}


@pytest.mark.parametrize("offered", list(BROAD))
async def test_a_client_root_of_slash_or_home_is_refused_with_a_log_line(
    sim: SimulatorServer,
    tree: Path,
    offered: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("HOME", str(tree / "elsewhere"))
    monkeypatch.chdir(tree / "cwd")
    root = Path("/") if offered == "/" else tree / "elsewhere"
    roots = offering(root.as_uri())
    outside, in_cwd = await calls(
        simulator_settings(sim),
        roots,
        upload(tree / "elsewhere" / "photo.png"),
        upload("photo.png"),
    )
    assert refused(outside, "outside the allowed roots", str(tree / "cwd")), text_of(outside)
    assert not in_cwd.is_error, text_of(in_cwd)  # nothing usable offered: the working dir
    assert roots.calls == [1]
    assert sim.state.count("upload") == 1
    assert f"ignoring the client root {root}: it is {BROAD[offered]}" in caplog.text


async def test_client_roots_narrow_the_configured_roots(sim: SimulatorServer, tree: Path) -> None:
    roots = offering((tree / "project").as_uri(), "file:///")
    inside, narrowed_away = await calls(
        simulator_settings(sim, tree),  # ATLAS_MCP_ROOTS holds both directories
        roots,
        upload(tree / "project" / "photo.png"),
        upload(tree / "elsewhere" / "photo.png"),
    )
    assert not inside.is_error, text_of(inside)
    assert refused(narrowed_away, "outside the allowed roots", str(tree / "project"))
    assert sim.state.count("upload") == 1


@pytest.mark.parametrize("cwd", list(BROAD))
async def test_a_working_directory_of_slash_or_home_grants_nothing(
    sim: SimulatorServer, tree: Path, cwd: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tree / "elsewhere"))
    monkeypatch.chdir("/" if cwd == "/" else tree / "elsewhere")
    (result,) = await calls(simulator_settings(sim), None, upload(tree / "project" / "photo.png"))
    assert refused(result, f"is {BROAD[cwd]}", "set ATLAS_MCP_ROOTS"), text_of(result)
    assert sim.state.count("upload") == 0


# -- hard links ---------------------------------------------------------------------------


async def test_a_hard_link_into_the_workspace_is_never_uploaded(
    sim: SimulatorServer, tree: Path
) -> None:
    secret = tree / "elsewhere" / "secret.png"
    secret.write_bytes(PNG + b"outside")
    os.link(secret, tree / "project" / "linked.png")
    settings = simulator_settings(sim, tree / "project")
    as_upload, as_frame = await calls(
        settings,
        None,
        upload("linked.png"),
        ("atlas_generate_video", {"prompt": "a fox", "image": "linked.png"}),
    )
    for result in (as_upload, as_frame):
        assert refused(result, "linked.png has 2 hard links", "upload a copy"), text_of(result)
    assert sim.state.count("upload") == sim.state.count("generate") == 0


# -- a platform without dir_fd / O_NOFOLLOW (Windows) -------------------------------------


@pytest.mark.parametrize("missing", ["dir_fd", "O_NOFOLLOW"])
async def test_without_descriptor_relative_opens_local_files_are_refused_and_urls_still_work(
    sim: SimulatorServer, tree: Path, missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if missing == "dir_fd":
        monkeypatch.setattr(os, "supports_dir_fd", set())
    else:
        monkeypatch.delattr(os, "O_NOFOLLOW")
    settings = simulator_settings(sim, tree / "project")
    image_url = "https://cdn.example.com/frames/first.png"
    local, frame, save, by_url = await calls(
        settings,
        None,
        upload("photo.png"),
        ("atlas_generate_video", {"prompt": "a fox", "image": "photo.png"}),
        ("atlas_generate_video", {"prompt": "a fox", "save_to": "videos/"}),
        ("atlas_generate_video", {"prompt": "a fox", "image": image_url}),
    )
    for result in (local, frame, save):
        assert refused(result, "not supported on this platform", missing, "https:// URL"), text_of(
            result
        )
    assert not by_url.is_error, text_of(by_url)
    assert structured(by_url)["video_url"]
    assert sim.state.count("upload") == 0 and sim.state.count("generate") == 1
    assert not (tree / "project" / "videos").exists()


# -- the HTTP transport is told, not guessed ----------------------------------------------


def test_the_http_app_refuses_a_server_built_for_stdio(sim: SimulatorServer) -> None:
    settings = simulator_settings(sim)
    with pytest.raises(ValueError, match="over_http=True"):
        create_http_app(build_server(settings), settings, "127.0.0.1")
    assert create_http_app(build_server(settings, over_http=True), settings, "127.0.0.1")
