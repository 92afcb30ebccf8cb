"""The MCP Apps player as the SDK's own client sees it, in both protocol eras, with and
without the extension: the binding and the listed resource only for a client that renders
MCP Apps, byte-identical tools/list and results for any other, the player document and
its CSP, and the app's own calls (poll, save) doing what the buttons promise.
The browser test (tests/e2e/test_player_browser.py) renders it in Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import MODES, simulator_settings, structured
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.server.apps import BOUND_TOOLS, PLAYER_URI, media_domains
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio

TOOLS_LIST_LIMIT = 7500
"""The whole of tools/list, in bytes as sent, for a client with Apps (issue 26)."""


class AppsHost(ClientExtension):
    """What a host that renders MCP Apps advertises."""

    identifier = EXTENSION_ID

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": [APP_MIME_TYPE]}


def client(sim: SimulatorServer, root: Path, mode: str, apps: bool) -> Client:
    server = build_server(simulator_settings(sim, root))
    return Client(server, mode=mode, extensions=[AppsHost()] if apps else None)


def head(path: Path) -> bytes:
    return path.read_bytes()[:16]


def wire_size(listing: Any) -> int:
    return len(listing.model_dump_json(by_alias=True, exclude_none=True).encode())


@pytest.mark.parametrize("mode", MODES)
async def test_only_an_apps_client_gets_the_binding_and_the_listed_player(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    async with client(sim, workspace, mode, apps=False) as plain:
        plain_tools = await plain.list_tools()
        plain_resources = await plain.list_resources()
    async with client(sim, workspace, mode, apps=True) as host:
        app_tools = await host.list_tools()
        app_resources = await host.list_resources()
        read = await host.read_resource(PLAYER_URI)

    assert all(not (t.meta or {}).get("ui") for t in plain_tools.tools)
    assert PLAYER_URI not in [str(r.uri) for r in plain_resources.resources]
    bound = {t.name: (t.meta or {}).get("ui") for t in app_tools.tools}
    for name in BOUND_TOOLS:
        assert bound[name] == {"resourceUri": PLAYER_URI}
    assert {n for n, ui in bound.items() if ui} == set(BOUND_TOOLS)
    listed = {str(r.uri): r for r in app_resources.resources}
    assert listed[PLAYER_URI].mime_type == APP_MIME_TYPE

    # the rest of each tool is the same bytes for both
    def without_ui(listing: Any) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = listing.model_dump(by_alias=True, exclude_none=True)["tools"]
        for tool in tools:
            tool.get("_meta", {}).pop("ui", None)
            if tool.get("_meta") == {}:
                del tool["_meta"]
        return tools

    assert without_ui(app_tools) == without_ui(plain_tools)
    grown = wire_size(app_tools) - wire_size(plain_tools)
    assert 0 < grown <= 200, grown  # 3 x {"ui":{"resourceUri":...}}
    assert wire_size(app_tools) < TOOLS_LIST_LIMIT, wire_size(app_tools)

    (content,) = read.contents
    assert content.mime_type == APP_MIME_TYPE
    html = getattr(content, "text", "")
    assert html.startswith("<!doctype html>")
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", html, re.IGNORECASE)
    csp = (content.meta or {})["ui"]["csp"]
    assert csp == {"resourceDomains": media_domains(simulator_settings(sim, workspace))}
    assert sim.base_url in csp["resourceDomains"]  # where the simulator's outputs live


@pytest.mark.parametrize("mode", MODES)
async def test_results_are_the_same_with_and_without_apps(
    sim: SimulatorServer, workspace: Path, mode: str
) -> None:
    calls = [
        ("atlas_generate_video", {"prompt": "a kite", "dry_run": True}),
        ("atlas_generate_video", {"prompt": "a kite", "wait": False}),
    ]
    answers: dict[bool, list[dict[str, Any]]] = {}
    for apps in (False, True):
        sim.state.reset()
        async with client(sim, workspace, mode, apps) as session:
            answers[apps] = []
            for name, arguments in calls:
                result = await session.call_tool(name, arguments)
                dumped = result.model_dump_json(by_alias=True, exclude_none=True)
                job = structured(result).get("prediction_id") or "<none>"
                answers[apps].append(json.loads(dumped.replace(job, "<id>")))
    assert answers[True] == answers[False]


async def test_the_players_own_calls_poll_a_running_job_and_save_it_into_the_root(
    sim: SimulatorServer, workspace: Path
) -> None:
    """What the player sends through the host: the poll, the record it reads, the save
    (`save_to: "./"`: the first root, a server-chosen name) and a save outside the roots."""
    async with client(sim, workspace, "auto", apps=True) as host:
        started = structured(
            await host.call_tool("atlas_generate_video", {"prompt": "a fox", "wait": False})
        )
        job = started["prediction_id"]
        assert started["status"] == "processing"
        sim.state.complete(job)
        polled = structured(await host.call_tool("atlas_check_status", {"prediction_id": job}))
        assert polled["status"] == "completed" and polled["video_url"].startswith(sim.base_url)
        read = await host.read_resource(f"atlas://jobs/{job}")
        record = json.loads(getattr(read.contents[0], "text", "{}"))
        assert record["prompt"] == "a fox" and record["expires_at"]
        saved = structured(
            await host.call_tool("atlas_check_status", {"prediction_id": job, "save_to": "./"})
        )
        outside = await host.call_tool(
            "atlas_check_status", {"prediction_id": job, "save_to": "/tmp/elsewhere/"}
        )
    path = Path(saved["local_path"])
    assert path.parent == workspace and path.suffix == ".mp4"
    assert head(path)[4:8] == b"ftyp"
    assert outside.is_error and "outside the allowed roots" in outside.content[0].text  # type: ignore[union-attr]
