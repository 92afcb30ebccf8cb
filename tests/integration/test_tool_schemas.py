"""The input schemas `tools/list` publishes stay within what the function-calling APIs
that hosts map them onto accept: Gemini's OpenAPI-subset `parameters` (one `type` per
property, no `anyOf`/`$ref`/`additionalProperties`/`exclusiveMinimum`, an object needs
`properties`, no `nullable` needed) and OpenAI's (JSON Schema); and the output schemas
have no type arrays. The MCP Inspector's own lint runs in tests/e2e/test_real_clients.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import MODES, simulator_settings
from mcp import Client

from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio

GEMINI_KEYWORDS = {
    "type", "description", "enum", "properties", "required", "items", "minimum", "maximum",
    "minLength", "maxLength", "minItems", "maxItems", "default", "format", "pattern",
}  # fmt: skip
"""Keywords of Gemini's function-declaration Schema (an OpenAPI 3.0 subset) this server
uses; OpenAI's function calling takes any JSON Schema, so these are the common ground."""


def portable_input(schema: dict[str, Any], path: str) -> None:
    assert set(schema) <= GEMINI_KEYWORDS, (path, set(schema) - GEMINI_KEYWORDS)
    assert isinstance(schema.get("type"), str), (path, "needs one type")
    if "enum" in schema:
        assert schema["type"] == "string" and all(isinstance(v, str) for v in schema["enum"])
    if schema["type"] == "object":
        assert schema.get("properties"), (path, "an object needs properties")
        for name, prop in schema["properties"].items():
            portable_input(prop, f"{path}.{name}")
    if schema["type"] == "array":
        portable_input(schema["items"], f"{path}[]")


def no_type_arrays(node: Any, path: str) -> None:
    if isinstance(node, dict):
        assert not isinstance(node.get("type"), list), path
        for key, value in node.items():
            no_type_arrays(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            no_type_arrays(value, f"{path}[{i}]")


async def test_input_schemas_fit_gemini_and_openai_function_calling(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace)), mode="legacy") as client:
        listing = await client.list_tools()
    for tool in listing.tools:
        portable_input(tool.input_schema, tool.name)
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        no_type_arrays(tool.output_schema, f"{tool.name}.outputSchema")
    wire = listing.model_dump_json(by_alias=True, exclude_none=True)  # as sent
    assert len(wire.encode()) < 7500, len(wire.encode())


async def test_structured_results_match_the_listed_output_schema(
    sim: SimulatorServer, workspace: Path
) -> None:
    """Fields left null are absent, and the listed schema (with no nullable types) takes
    every result kind: clients validate structuredContent against it."""
    async with Client(build_server(simulator_settings(sim, workspace)), mode="legacy") as client:
        schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
        calls: list[tuple[str, dict[str, Any]]] = [
            ("atlas_generate_video", {"prompt": "a kite", "dry_run": True}),
            ("atlas_generate_video", {"prompt": "a kite", "image": "photo.png"}),
            ("atlas_generate_video", {"prompt": "later [sim:never]", "wait": False}),
            ("atlas_list_models", {}),
            ("atlas_list_jobs", {}),
            ("atlas_upload_media", {"path": "photo.png"}),
        ]
        for name, arguments in calls:
            result = await client.call_tool(name, arguments)
            assert result.structured_content is not None, (name, result.content)
            schema = schemas[name]
            assert schema is not None, name
            jsonschema.validate(result.structured_content, schema)
            assert None not in result.structured_content.values() or name == "atlas_list_models"


async def test_only_the_2025_11_25_era_lists_task_support_and_it_costs_78_bytes(
    sim: SimulatorServer, workspace: Path
) -> None:
    """`execution.taskSupport` (2025-11-25's task augmentation) on the two generate
    tools, in that era only: 39 bytes each of the listing every model reads."""
    sizes: dict[str, int] = {}
    for mode in MODES:
        async with Client(build_server(simulator_settings(sim, workspace)), mode=mode) as client:
            listing = await client.list_tools()
            version = client.protocol_version
        executions = {t.name: t.execution for t in listing.tools if t.execution is not None}
        wire = listing.model_dump_json(by_alias=True, exclude_none=True)
        sizes[version] = len(wire.encode())
        if version != "2025-11-25":
            assert executions == {}
            continue
        assert set(executions) == {"atlas_generate_video", "atlas_generate_image"}
        assert all(e.task_support == "optional" for e in executions.values())
        listed = listing.model_dump(by_alias=True, exclude_none=True)
        without = [{k: v for k, v in t.items() if k != "execution"} for t in listed["tools"]]
        bare = json.dumps({**listed, "tools": without}, separators=(",", ":"))
        assert len(wire.encode()) - len(bare.encode()) == 2 * 39
    assert set(sizes) == {"2025-11-25", "2026-07-28"}
    assert max(sizes.values()) < 7500, sizes  # the job summary and request types: ~+450
