"""Every protocol version, spoken byte for byte: `initialize` (or `server/discover`),
`tools/list` and a finished generate with `save_to` and progress, each message checked
against what that version's published schema defines.

The schemas are the specification repository's `schema/<version>/schema.json`; no npm or
PyPI package ships them, so `DEFINED` below lists, for each version, the properties and
required properties of the definitions these answers use, read from those files (commit
b0f60ba of modelcontextprotocol/modelcontextprotocol). None of those schemas forbids
extra properties, so a client's validator would accept more; the check is stricter on
purpose: a field the version does not define is a field its clients do not expect. The
content-block union is what makes old clients throw (TypeScript SDK 1.12, Python SDK 1.9
on a `resource_link`), so every handshake version's messages also go through the
TypeScript SDK's own zod schemas for it (installed from npm by the test run), and
2025-11-25 and 2026-07-28 through the SDK's `mcp-types` surfaces.
tests/e2e/test_real_clients.py runs whole clients.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import jsonschema.validators
import pytest
from helpers import PNG
from installed_clients import CLIENTS, RealClients, node_or_skip
from mcp_types.methods import validate_server_result
from wire import MODERN, server_env, wire_session

from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio

VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", MODERN]
ZOD_SDK = {"2024-11-05": "1.12", "2025-03-26": "1.12", "2025-06-18": "1", "2025-11-25": "1"}
"""The TypeScript SDK (npm range) whose zod schemas parse each handshake version: 1.12's
speak 2025-03-26 and accept 2024-11-05; the newest 1.x's speak up to 2025-11-25."""

_TEXT = (["annotations", "text", "type"], ["text", "type"])
_EMBEDDED = (["annotations", "resource", "type"], ["resource", "type"])
_META = "_meta"
Defined = dict[str, tuple[list[str], list[str]]]


def _with_meta(defined: Defined, *names: str) -> Defined:
    return {
        name: ([*props, _META], req) if name in names else (props, req)
        for name, (props, req) in defined.items()
    }


_V2024: Defined = {
    "InitializeResult": (
        ["_meta", "capabilities", "instructions", "protocolVersion", "serverInfo"],
        ["capabilities", "protocolVersion", "serverInfo"],
    ),
    "Implementation": (["name", "version"], ["name", "version"]),
    "ServerCapabilities": (["experimental", "logging", "prompts", "resources", "tools"], []),
    "ListToolsResult": (["_meta", "nextCursor", "tools"], ["tools"]),
    "Tool": (["description", "inputSchema", "name"], ["inputSchema", "name"]),
    "CallToolResult": (["_meta", "content", "isError"], ["content"]),
    "text": _TEXT,
    "resource": _EMBEDDED,
    "ProgressNotificationParams": (
        ["progress", "progressToken", "total"],
        ["progress", "progressToken"],
    ),
}
_V2025_03: Defined = {
    **_V2024,
    "ServerCapabilities": (
        ["completions", "experimental", "logging", "prompts", "resources", "tools"],
        [],
    ),
    "Tool": (["annotations", "description", "inputSchema", "name"], ["inputSchema", "name"]),
    "ToolAnnotations": (
        ["destructiveHint", "idempotentHint", "openWorldHint", "readOnlyHint", "title"],
        [],
    ),
    "ProgressNotificationParams": (
        ["message", "progress", "progressToken", "total"],
        ["progress", "progressToken"],
    ),
}
_V2025_06: Defined = {
    **_with_meta(_V2025_03, "text", "resource"),
    "Implementation": (["name", "title", "version"], ["name", "version"]),
    "Tool": (
        ["_meta", "annotations", "description", "inputSchema", "name", "outputSchema", "title"],
        ["inputSchema", "name"],
    ),
    "CallToolResult": (["_meta", "content", "isError", "structuredContent"], ["content"]),
    "resource_link": (
        ["_meta", "annotations", "description", "mimeType", "name", "size", "title", "type", "uri"],
        ["name", "type", "uri"],
    ),
}
_V2025_11: Defined = {
    **_V2025_06,
    "Implementation": (
        ["description", "icons", "name", "title", "version", "websiteUrl"],
        ["name", "version"],
    ),
    "ServerCapabilities": (
        ["completions", "experimental", "logging", "prompts", "resources", "tasks", "tools"],
        [],
    ),
    "Tool": (
        [
            "_meta",
            "annotations",
            "description",
            "execution",
            "icons",
            "inputSchema",
            "name",
            "outputSchema",
            "title",
        ],
        ["inputSchema", "name"],
    ),
    "resource_link": (
        [*_V2025_06["resource_link"][0], "icons"],
        ["name", "type", "uri"],
    ),
    "ProgressNotificationParams": (
        ["_meta", "message", "progress", "progressToken", "total"],
        ["progress", "progressToken"],
    ),
}
_V2026: Defined = {
    **_V2025_11,
    "ServerCapabilities": (
        ["completions", "experimental", "extensions", "logging", "prompts", "resources", "tools"],
        [],
    ),
    "ListToolsResult": (
        ["_meta", "cacheScope", "nextCursor", "resultType", "tools", "ttlMs"],
        ["cacheScope", "resultType", "tools", "ttlMs"],
    ),
    "Tool": (
        [
            "_meta",
            "annotations",
            "description",
            "icons",
            "inputSchema",
            "name",
            "outputSchema",
            "title",
        ],
        ["inputSchema", "name"],
    ),
    "CallToolResult": (
        ["_meta", "content", "isError", "resultType", "structuredContent"],
        ["content", "resultType"],
    ),
    "DiscoverResult": (
        [
            "_meta",
            "cacheScope",
            "capabilities",
            "instructions",
            "resultType",
            "supportedVersions",
            "ttlMs",
        ],
        ["cacheScope", "capabilities", "resultType", "supportedVersions", "ttlMs"],
    ),
}
DEFINED: dict[str, Defined] = {
    "2024-11-05": _V2024,
    "2025-03-26": _V2025_03,
    "2025-06-18": _V2025_06,
    "2025-11-25": _V2025_11,
    MODERN: _V2026,
}


def conforms(version: str, definition: str, value: Any) -> None:
    """`value` has only properties `definition` defines in `version`, and all it requires."""
    props, required = DEFINED[version][definition]
    assert isinstance(value, dict), (definition, value)
    assert set(value) <= set(props), f"{version} {definition}: {set(value) - set(props)} undefined"
    assert set(required) <= set(value), f"{version} {definition}: missing {required}"


@pytest.fixture
def sim_job_seconds() -> float:
    return 1.2


@pytest.mark.parametrize("version", VERSIONS)
async def test_each_protocol_version_lists_tools_and_finishes_a_saved_video(
    sim: SimulatorServer, tmp_path: Path, version: str, real_clients: RealClients
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "photo.png").write_bytes(PNG)
    arguments = {
        "prompt": "a lighthouse at dusk",
        "image": "photo.png",
        "save_to": "out/lighthouse.mp4",
    }
    with anyio.fail_after(90):
        async with wire_session(version, server_env(sim, root), root) as session:
            opened = (await session.initialize())["result"]
            listed = (await session.request("tools/list"))[0]["result"]
            call = {"name": "atlas_generate_video", "arguments": arguments}
            answer, notes = await session.request("tools/call", call, progress=True)
    if version == MODERN:
        conforms(version, "DiscoverResult", opened)
        assert version in opened["supportedVersions"]
    else:
        conforms(version, "InitializeResult", opened)
        conforms(version, "Implementation", opened["serverInfo"])
        assert opened["protocolVersion"] == version
    conforms(version, "ServerCapabilities", opened["capabilities"])

    conforms(version, "ListToolsResult", listed)
    for tool in listed["tools"]:
        conforms(version, "Tool", tool)
        if "annotations" in tool:
            conforms(version, "ToolAnnotations", tool["annotations"])
        jsonschema.validators.validator_for(tool["inputSchema"]).check_schema(tool["inputSchema"])
    generate = next(t for t in listed["tools"] if t["name"] == "atlas_generate_video")
    if version == "2025-03-26":  # the title lives in the annotations there
        assert generate["annotations"]["title"] == "Generate a video with Atlas"

    result = answer["result"]
    conforms(version, "CallToolResult", result)
    assert not result.get("isError"), result
    kinds = [block["type"] for block in result["content"]]
    for block in result["content"]:
        conforms(version, block["type"], block)
    text = " ".join(b["text"] for b in result["content"] if b["type"] == "text")
    saved = root / "out" / "lighthouse.mp4"
    assert saved.stat().st_size > 0
    assert sim.base_url in text and str(saved) in text  # the text alone names both
    has_links = version >= "2025-06-18"
    assert ("resource_link" in kinds) == has_links
    assert ("structuredContent" in result) == has_links
    if version in ("2025-11-25", MODERN):
        validate_server_result("tools/call", version, result)
        validate_server_result("tools/list", version, listed)

    progress = [n["params"] for n in notes if n.get("method") == "notifications/progress"]
    assert len(progress) >= 2
    for params in progress:
        conforms(version, "ProgressNotificationParams", params)
    assert [p["progress"] for p in progress] == sorted({p["progress"] for p in progress})

    if version in ZOD_SDK:  # the TypeScript SDK's own parsers for that version
        messages = [
            ["InitializeResultSchema", opened],
            ["ListToolsResultSchema", listed],
            ["CallToolResultSchema", result],
            *[["ProgressNotificationSchema", n] for n in notes if "method" in n],
        ]
        node_or_skip(real_clients)
        sdk = real_clients.ts_sdks[ZOD_SDK[version]]
        command = ["node", str(CLIENTS / "zod_check.mjs"), str(sdk), json.dumps(messages)]
        with anyio.fail_after(60):
            done = await anyio.run_process(command)
        assert json.loads(done.stdout)["failures"] == []
