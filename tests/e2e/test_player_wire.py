"""The player's protocol shapes on the wire (stdio, hand-written JSON-RPC), per protocol
version in both eras, for a client with the MCP Apps extension and one without: the
binding and the listed `ui://` resource only with it (and only where the version defines
`Tool._meta`), every tool within what the version defines, the rest of tools/list
byte-identical, and the same results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp_types.methods import validate_server_result
from test_protocol_versions import conforms
from wire import MODERN, server_env, wire_session

from atlas_mcp_py.server.apps import BOUND_TOOLS, PLAYER_URI
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio

VERSIONS = ["2025-03-26", "2025-06-18", "2025-11-25", MODERN]
APPS = {"extensions": {EXTENSION_ID: {"mimeTypes": [APP_MIME_TYPE]}}}


async def exchange(sim: SimulatorServer, root: Path, version: str, apps: bool) -> dict[str, Any]:
    capabilities = APPS if apps else {}
    async with wire_session(version, server_env(sim, root), root, capabilities) as session:
        opened = (await session.initialize())["result"]
        listed = (await session.request("tools/list"))[0]["result"]
        resources = (await session.request("resources/list"))[0]["result"]
        player = (await session.request("resources/read", {"uri": PLAYER_URI}))[0]["result"]
        call = {"name": "atlas_generate_video", "arguments": {"prompt": "a kite", "dry_run": True}}
        dry = (await session.request("tools/call", call))[0]["result"]
    return {
        "opened": opened,
        "listed": listed,
        "resources": resources,
        "player": player,
        "dry": dry,
    }


def without_ui(tools: list[dict[str, Any]]) -> str:
    plain = []
    for tool in tools:
        meta = {k: v for k, v in (tool.get("_meta") or {}).items() if k != "ui"}
        rest = {k: v for k, v in tool.items() if k != "_meta"}
        plain.append({**rest, **({"_meta": meta} if meta else {})})
    return json.dumps(plain)


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_player_binding_per_version_with_and_without_the_extension(
    sim: SimulatorServer, tmp_path: Path, version: str
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    with anyio.fail_after(60):
        plain = await exchange(sim, root, version, apps=False)
        host = await exchange(sim, root, version, apps=True)
    defines_meta = version >= "2025-06-18"
    for seen in (plain, host):
        for tool in seen["listed"]["tools"]:
            conforms(version, "Tool", tool)
        if version in ("2025-11-25", MODERN):
            validate_server_result("tools/list", version, seen["listed"])
        assert seen["player"]["contents"][0]["mimeType"] == APP_MIME_TYPE
    if version == MODERN:  # the server says it has the extension where capabilities can
        assert EXTENSION_ID in host["opened"]["capabilities"]["extensions"]
    else:
        assert "extensions" not in host["opened"]["capabilities"]

    assert all("ui" not in (t.get("_meta") or {}) for t in plain["listed"]["tools"])
    bound = {t["name"] for t in host["listed"]["tools"] if "ui" in (t.get("_meta") or {})}
    assert bound == (set(BOUND_TOOLS) if defines_meta else set())
    for tool in host["listed"]["tools"]:
        if tool["name"] in bound:
            assert tool["_meta"]["ui"] == {"resourceUri": PLAYER_URI}
    assert without_ui(host["listed"]["tools"]) == without_ui(plain["listed"]["tools"])
    if not defines_meta:
        assert host["listed"] == plain["listed"]

    def uris(seen: dict[str, Any]) -> list[str]:
        return [r["uri"] for r in seen["resources"].get("resources", [])]

    assert PLAYER_URI not in uris(plain) and PLAYER_URI in uris(host)
    assert host["dry"] == plain["dry"]  # a result is the same for both
