"""What a model makes video from (`ModelTakes`), and notes of it kept across sessions.

`atlas_list_models` describes each listed model by its schema: some 40 schema reads on
a session's first listing. An IDE starts a server per session, many a day, and a
model's schema changes rarely, so what they said is noted in a file of the state
directory (`model-inputs.json`) and trusted for `NOTES_FRESH_SECONDS` while the
catalog still names the same schema URL: a session's first listing then reads none.
The notes only describe models in listings and suggestions; a generate call reads the
model's schema itself.

The file is plain JSON, per Atlas base URL and model id; written whole (a temporary
file renamed over it), so a reader never sees half of it. A file that cannot be read
or written is logged and otherwise ignored: the schemas are read as before.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["NOTES_FRESH_SECONDS", "ModelTakes", "TakesNotes"]

logger = logging.getLogger(__name__)

NOTES_FRESH_SECONDS = 24 * 3600
"""How long a noted schema reading is trusted without reading the schema again."""

VERSION = 1


@dataclass(frozen=True)
class ModelTakes:
    """What a model makes video from, and its frame parameters (from its schema when it
    could be read, else from its catalog categories, with no frames)."""

    sources: list[str]
    frames: list[str]
    last_frame: str | None = None


@dataclass(frozen=True)
class Noted:
    """One model's noted reading: from which schema URL, when, what it said."""

    schema_url: str
    read_at: float
    takes: ModelTakes


def _noted(entry: Any) -> Noted | None:
    """An entry of the file, or None when it is not one (a hand-edited or foreign file)."""
    if not isinstance(entry, dict):
        return None
    url, read_at = entry.get("schema_url"), entry.get("read_at")
    sources, frames = entry.get("sources"), entry.get("frames")
    last = entry.get("last_frame")
    if not (isinstance(url, str) and isinstance(sources, list) and isinstance(frames, list)):
        return None
    if not all(isinstance(item, str) for item in (*sources, *frames)):
        return None
    if last is not None and not isinstance(last, str):
        return None
    if isinstance(read_at, bool) or not isinstance(read_at, int | float):
        return None
    return Noted(url, float(read_at), ModelTakes(list(sources), list(frames), last))


class TakesNotes:
    """The notes file for one Atlas (`base_url`): `usable` answers from it, `save` adds
    fresh readings. Reads and writes are blocking file I/O: call them off the event loop."""

    def __init__(
        self, path: Path, base_url: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self._noted: dict[str, Noted] | None = None

    def load(self) -> dict[str, Noted]:
        """The notes of this Atlas, read once (empty when there is no usable file)."""
        if self._noted is None:
            self._noted = {}
            ours = self._by_atlas(warn=True).get(self.base_url)
            for model_id, entry in ours.items() if isinstance(ours, dict) else ():
                noted = _noted(entry)
                if noted is not None:
                    self._noted[model_id] = noted
        return self._noted

    def _by_atlas(self, *, warn: bool = False) -> dict[str, Any]:
        """The file's notes by Atlas base URL; empty when there is no usable file."""
        try:
            whole = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            if warn:
                logger.warning("ignoring the model notes %s: %s", self.path, exc)
            return {}
        if not isinstance(whole, dict) or whole.get("version") != VERSION:
            return {}
        by_atlas = whole.get("atlas")
        return by_atlas if isinstance(by_atlas, dict) else {}

    def usable(self, model_id: str, schema_url: str) -> ModelTakes | None:
        """What the notes say `model_id` takes, if read from `schema_url` recently."""
        noted = self.load().get(model_id)
        if noted is None or noted.schema_url != schema_url:
            return None
        age = self._clock() - noted.read_at
        return noted.takes if 0 <= age < NOTES_FRESH_SECONDS else None

    def save(self, read: Mapping[str, tuple[str, ModelTakes]]) -> None:
        """Notes `read` (model id -> (schema URL, what it said)) as read now, keeping
        what the file holds for other models and other Atlas base URLs."""
        if not read:
            return
        now = self._clock()
        noted = self.load()
        for model_id, (schema_url, takes) in read.items():
            noted[model_id] = Noted(schema_url, now, takes)
        by_atlas = self._by_atlas()  # as it is now: another server may have written it
        by_atlas[self.base_url] = {
            model_id: {
                "schema_url": n.schema_url,
                "read_at": round(n.read_at, 3),
                "sources": n.takes.sources,
                "frames": n.takes.frames,
                "last_frame": n.takes.last_frame,
            }
            for model_id, n in sorted(noted.items())
        }
        text = json.dumps({"version": VERSION, "atlas": by_atlas}, indent=1, sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".model-inputs-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text + "\n")
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            logger.warning("could not write the model notes %s: %s", self.path, exc)
