"""What listed models' schemas said is noted in the state directory (model-inputs.json):
a later session's first atlas_list_models reads no schema noted in the last 24 hours
for the same schema URL, and lists the same text. Notes that are stale, of another
schema URL, unreadable or unwritable only cost the reads they would have saved."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from helpers import simulator_settings, text_of
from mcp import Client

from atlas_mcp_py.atlas.takes import NOTES_FRESH_SECONDS
from atlas_mcp_py.server.app import MODEL_NOTES_FILE, build_server
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio


async def listing(sim: SimulatorServer, state: Path) -> str:
    """The text of a new session's first atlas_list_models."""
    settings = simulator_settings(sim, state_dir=state)
    async with Client(build_server(settings)) as client:
        return text_of(await client.call_tool("atlas_list_models", {}))


def notes_of(state: Path) -> dict[str, dict[str, object]]:
    whole = json.loads((state / MODEL_NOTES_FILE).read_text())
    assert whole["version"] == 1
    notes: dict[str, dict[str, object]] = next(iter(whole["atlas"].values()))
    return notes


def rewrite(state: Path, change: dict[str, object], only: str | None = None) -> None:
    path = state / MODEL_NOTES_FILE
    whole = json.loads(path.read_text())
    for model_id, entry in next(iter(whole["atlas"].values())).items():
        if only is None or model_id == only:
            entry.update(change)
    path.write_text(json.dumps(whole))


async def test_a_later_sessions_first_listing_reads_no_schema_and_says_the_same(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = await listing(sim, state)
    read = sim.state.count("schema")
    assert read > 0 and len(notes_of(state)) == read
    assert await listing(sim, state) == first
    assert sim.state.count("schema") == read  # none read again


async def test_stale_notes_and_a_changed_schema_url_are_read_again(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = await listing(sim, state)
    read = sim.state.count("schema")
    one = sorted(notes_of(state))[0]
    rewrite(state, {"schema_url": "https://elsewhere.example/old.json"}, only=one)
    assert await listing(sim, state) == first
    assert sim.state.count("schema") == read + 1  # only the model whose schema moved
    rewrite(state, {"read_at": time.time() - NOTES_FRESH_SECONDS - 60})
    assert await listing(sim, state) == first
    assert sim.state.count("schema") == 2 * read + 1  # all stale: all read again
    assert all(float(str(n["read_at"])) > time.time() - 60 for n in notes_of(state).values())


async def test_an_unreadable_notes_file_is_ignored_and_written_anew(
    sim: SimulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    first = await listing(sim, state)
    read = sim.state.count("schema")
    (state / MODEL_NOTES_FILE).write_text('{"version": 1, "atlas": [')
    with caplog.at_level(logging.WARNING):
        assert await listing(sim, state) == first
    assert "ignoring the model notes" in caplog.text
    assert sim.state.count("schema") == 2 * read
    assert len(notes_of(state)) == read  # valid again


async def test_notes_that_cannot_be_written_cost_only_the_reads(
    sim: SimulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    (state / MODEL_NOTES_FILE).mkdir(parents=True)  # a directory where the file goes
    with caplog.at_level(logging.WARNING):
        first = await listing(sim, state)
        assert await listing(sim, state) == first
    assert sim.state.count("schema") > 0 and sim.state.count("schema") % 2 == 0
    assert "could not write the model notes" in caplog.text


async def test_notes_of_another_atlas_are_kept_and_not_used(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    other = {"version": 1, "atlas": {"https://other.example": {"m": {"schema_url": "u"}}}}
    (state / MODEL_NOTES_FILE).write_text(json.dumps(other))
    await listing(sim, state)
    whole = json.loads((state / MODEL_NOTES_FILE).read_text())
    assert whole["atlas"]["https://other.example"] == {"m": {"schema_url": "u"}}
    assert len(whole["atlas"][sim.base_url]) == sim.state.count("schema") > 0
