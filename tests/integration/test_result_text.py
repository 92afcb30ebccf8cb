"""The text alone is enough: most IDE clients hand the model only a result's text blocks
(and before protocol 2025-06-18 there is nothing else), so every result kind is read here
through its text blocks only, as such a model reads it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import simulator_settings
from mcp import Client
from mcp.types import CallToolResult, TextContent

from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio

INTERNALS = re.compile(r"pydantic|https?://errors|\[type=|validation error|input_type|Arguments\b")


def only_text(result: CallToolResult) -> str:
    """What a text-only client shows the model: the text blocks, nothing structured."""
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def call(client: Client, tool: str, arguments: dict[str, object]) -> str:
    return only_text(await client.call_tool(tool, arguments))


async def test_every_result_kind_carries_what_the_model_needs_in_its_text(
    sim: SimulatorServer, workspace: Path
) -> None:
    server = build_server(simulator_settings(sim, workspace))
    async with Client(server, mode="legacy") as client:
        models = await call(client, "atlas_list_models", {})
        uploaded = await call(client, "atlas_upload_media", {"path": "photo.png"})
        dry = await call(
            client,
            "atlas_generate_video",
            {"prompt": "a red kite over hills", "image": "photo.png", "dry_run": True},
        )
        done = await call(
            client,
            "atlas_generate_video",
            {"prompt": "a lighthouse", "image": "photo.png", "save_to": "out/l.mp4"},
        )
        failed = await call(client, "atlas_generate_video", {"prompt": "a storm [sim:moderation]"})
        handed_back = await call(
            client, "atlas_generate_video", {"prompt": "a slow dawn [sim:never]", "wait": False}
        )
        unknown = await call(client, "atlas_check_status", {"prediction_id": "no-such-job"})
        jobs = await call(client, "atlas_list_jobs", {})

    listed = json.loads(models)
    assert {"id", "price"} <= set(listed["models"][0])  # ids to pass as `model`, and prices
    assert json.loads(uploaded)["url"].startswith(sim.base_url)

    assert "nothing was sent" in dry.lower() and "$0." in dry  # the cost
    body = json.loads(dry[dry.index("{") : dry.rindex("}") + 1])  # the request body itself
    assert body["prompt"] == "a red kite over hills" and body["model"]

    (job,) = [j for j in sim.state.predictions.values() if j.params["prompt"] == "a lighthouse"]
    assert str(workspace / "out" / "l.mp4") in done and job.id in done
    assert sim.base_url in done  # the video URL

    assert "moderation" in failed.lower()  # the reason
    assert "prompt" in failed and "another model" in failed and "atlas_list_jobs" in failed

    (slow,) = [j for j in sim.state.predictions.values() if "slow dawn" in j.params["prompt"]]
    assert slow.id in handed_back and "atlas_check_status" in handed_back

    assert "atlas_list_jobs" in unknown  # where to find ids
    assert job.id in jobs and slow.id in jobs


@pytest.mark.parametrize(
    ("tool", "arguments", "argument", "accepted"),
    [
        ("atlas_list_models", {"type": "movies"}, "`type`", "one of video, image, audio"),
        ("atlas_list_models", {"limit": 0}, "`limit`", "at least 1 and at most 200"),
        ("atlas_list_jobs", {"status": "done"}, "`status`", "one of processing, completed"),
        ("atlas_generate_video", {}, "`prompt` is required", "text"),
        ("atlas_generate_video", {"prompt": "x", "duration": "long"}, "`duration`", "whole"),
        ("atlas_generate_video", {"prompt": "x", "wait": "maybe"}, "`wait`", "true or false"),
        ("atlas_check_status", {"prediction_id": 5}, "`prediction_id`", "text"),
    ],
)
async def test_refused_input_names_the_argument_and_what_it_accepts_in_plain_words(
    sim: SimulatorServer,
    workspace: Path,
    tool: str,
    arguments: dict[str, object],
    argument: str,
    accepted: str,
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace)), mode="legacy") as client:
        result = await client.call_tool(tool, arguments)
    text = only_text(result)
    assert result.is_error
    assert argument in text and accepted in text
    assert "nothing was sent" in text
    assert not INTERNALS.search(text), text
    assert sim.state.count("generate") == 0
