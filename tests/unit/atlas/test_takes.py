"""`TakesNotes` trusts a noted schema reading only for the same schema URL, for 24 hours
(not one from the future: a clock set back), and skips entries it cannot read."""

from __future__ import annotations

import json
from pathlib import Path

from atlas_mcp_py.atlas.takes import NOTES_FRESH_SECONDS, ModelTakes, TakesNotes

ATLAS = "https://api.atlascloud.ai"


def test_a_reading_is_trusted_for_its_schema_url_for_a_day(tmp_path: Path) -> None:
    now = [1_000_000.0]
    path = tmp_path / "notes.json"
    takes = ModelTakes(["image"], ["image"], None)
    TakesNotes(path, ATLAS + "/", clock=lambda: now[0]).save({"m": ("u1", takes)})
    notes = TakesNotes(path, ATLAS, clock=lambda: now[0])
    assert notes.usable("m", "u1") == takes
    assert notes.usable("m", "u2") is None
    assert notes.usable("other", "u1") is None
    now[0] += NOTES_FRESH_SECONDS - 1
    assert notes.usable("m", "u1") == takes
    now[0] += 2
    assert notes.usable("m", "u1") is None
    now[0] -= NOTES_FRESH_SECONDS + 100  # before it was read: a clock set back
    assert notes.usable("m", "u1") is None


def test_entries_it_cannot_read_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "notes.json"
    good = {"schema_url": "u", "read_at": 5.0, "sources": ["text"], "frames": []}
    entries = {
        "good": good,
        "no-url": {**good, "schema_url": None},
        "bool-time": {**good, "read_at": True},
        "bad-frames": {**good, "frames": [1]},
        "bad-last": {**good, "last_frame": 3},
        "list": [],
    }
    path.write_text(json.dumps({"version": 1, "atlas": {ATLAS: entries}}))
    assert list(TakesNotes(path, ATLAS, clock=lambda: 6.0).load()) == ["good"]
    path.write_text(json.dumps({"version": 2, "atlas": {ATLAS: entries}}))
    assert TakesNotes(path, ATLAS).load() == {}  # a later format: not guessed at
    path.write_text("[]")
    assert TakesNotes(path, ATLAS).load() == {}
