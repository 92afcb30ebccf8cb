"""What each protocol version gets, decided by `protocol.shape_result` (one place)."""

from __future__ import annotations

from typing import Any

import pytest

from atlas_mcp_py.server.arguments import accepts, refused_arguments
from atlas_mcp_py.server.protocol import shape_result

TOOL: dict[str, Any] = {
    "name": "atlas_generate_video",
    "title": "Generate a video",
    "description": "d",
    "inputSchema": {"type": "object"},
    "outputSchema": {"type": "object"},
    "annotations": {"readOnlyHint": False},
    "icons": [{"src": "https://x/icon.png"}],
    "_meta": {"k": 1},
}
CALL: dict[str, Any] = {
    "content": [
        {"type": "text", "text": "Video ready: https://x/v.mp4. Saved to /w/v.mp4.", "_meta": {}},
        {"type": "resource_link", "uri": "https://x/v.mp4", "name": "v.mp4"},
        {"type": "audio", "data": "AA==", "mimeType": "audio/wav"},
    ],
    "structuredContent": {"status": "completed"},
    "isError": False,
}


def test_2024_11_05_tools_have_no_annotations_titles_or_output_schemas() -> None:
    (tool,) = shape_result("tools/list", "2024-11-05", {"tools": [TOOL]})["tools"]
    assert set(tool) == {"name", "description", "inputSchema"}


def test_2025_03_26_tools_carry_their_title_inside_the_annotations() -> None:
    (tool,) = shape_result("tools/list", "2025-03-26", {"tools": [TOOL]})["tools"]
    assert set(tool) == {"name", "description", "inputSchema", "annotations"}
    assert tool["annotations"] == {"title": "Generate a video", "readOnlyHint": False}


@pytest.mark.parametrize(
    ("version", "kinds"),
    [
        ("2024-11-05", ["text"]),
        ("2025-03-26", ["text", "audio"]),
        ("2025-06-18", ["text", "resource_link", "audio"]),
        ("2026-07-28", ["text", "resource_link", "audio"]),
    ],
)
def test_results_keep_only_the_content_blocks_the_version_defines(
    version: str, kinds: list[str]
) -> None:
    shaped = shape_result("tools/call", version, CALL)
    assert [block["type"] for block in shaped["content"]] == kinds
    assert ("structuredContent" in shaped) == ("resource_link" in kinds)
    assert ("_meta" in shaped["content"][0]) == ("resource_link" in kinds)


def test_2025_11_25_and_later_keep_everything() -> None:
    assert shape_result("tools/list", "2026-07-28", {"tools": [TOOL]}) == {"tools": [TOOL]}
    assert shape_result("tools/call", "2025-11-25", CALL) == CALL


def test_only_2025_11_25_offers_its_task_augmentation() -> None:
    """`execution.taskSupport` on the generate tools and the `tasks` capability: that
    era's core; 2026-07-28 has tasks as an extension, older versions none."""
    other = {**TOOL, "name": "atlas_list_models"}
    (video, models) = shape_result("tools/list", "2025-11-25", {"tools": [TOOL, other]})["tools"]
    assert video == {**TOOL, "execution": {"taskSupport": "optional"}}
    assert models == other
    for version in ("2025-06-18", "2026-07-28"):
        (tool,) = shape_result("tools/list", version, {"tools": [TOOL]})["tools"]
        assert "execution" not in tool
    answer = {"protocolVersion": "2025-11-25", "serverInfo": {}, "capabilities": {"tools": {}}}
    tasks = shape_result("initialize", "2025-11-25", answer)["capabilities"]["tasks"]
    assert tasks == {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
    assert "tasks" not in shape_result("initialize", "2025-06-18", answer)["capabilities"]


def test_initialize_answers_carry_only_the_versions_server_info_and_capabilities() -> None:
    answer = {
        "protocolVersion": "2024-11-05",
        "serverInfo": {"name": "a", "version": "1", "title": "A", "description": "d"},
        "capabilities": {"tools": {}, "completions": {}, "tasks": {}, "extensions": {}},
    }
    old = shape_result("initialize", "2024-11-05", answer)
    assert old["serverInfo"] == {"name": "a", "version": "1"}
    assert old["capabilities"] == {"tools": {}}
    mid = shape_result("initialize", "2025-06-18", answer)
    assert mid["serverInfo"] == {"name": "a", "version": "1", "title": "A"}
    assert mid["capabilities"] == {"tools": {}, "completions": {}}


def test_resource_templates_lose_their_title_before_2025_06_18() -> None:
    listed = {"resourceTemplates": [{"uriTemplate": "atlas://jobs/{id}", "name": "job"}]}
    titled = {"resourceTemplates": [{**listed["resourceTemplates"][0], "title": "A job"}]}
    assert shape_result("resources/templates/list", "2025-03-26", titled) == listed
    assert shape_result("resources/templates/list", "2025-06-18", titled) == titled


def test_an_unknown_version_gets_the_newest_shape() -> None:
    assert shape_result("tools/call", None, CALL) == CALL
    assert shape_result("tools/call", "2099-01-01", CALL) == CALL


def test_accepted_values_read_through_refs_and_optional_wrappers() -> None:
    defs = {"Kind": {"enum": ["a", "b"], "type": "string"}}
    optional_ref = {"anyOf": [{"$ref": "#/$defs/Kind"}, {"type": "null"}]}
    assert accepts(optional_ref, defs) == "one of a, b"
    assert accepts({"type": "number", "exclusiveMinimum": 0}) == "a number, above 0"
    assert accepts({"type": "string", "maxLength": 64}) == "text, at most 64 characters"


def test_a_refusal_names_every_argument_once_and_an_unknown_one_lists_the_real_ones() -> None:
    schema = {"properties": {"limit": {"type": "integer", "minimum": 1}}}
    errors = [{"loc": ("limit",), "type": "int_parsing"}, {"loc": ("limit",), "type": "x"}]
    text = refused_arguments("t", errors, schema)
    assert text.count("`limit`") == 1 and "a whole number, at least 1" in text
    assert "its arguments: limit" in refused_arguments("t", [{"loc": ("lmit",)}], schema)
