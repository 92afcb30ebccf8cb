"""What every agent-framework client script (tests/clients/*_agent.py) shares, stdlib
only: the command line, the two videos an agent is asked for, the scripted model's
policy, and the one JSON line each script prints. Run by tests/e2e/test_agent_frameworks.py
in the framework's own virtual environment.

    python X_agent.py stdio '<json: command, args, env, cwd>'
    python X_agent.py http  '<json: url, token>'
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

VIDEOS: dict[str, dict[str, Any]] = {
    "text": {"prompt": "a lighthouse at dusk", "save_to": "out/text.mp4"},
    "image": {"prompt": "the photo, zooming in", "image": "photo.png", "save_to": "out/image.mp4"},
}
"""The videos an agent makes: text-only, and from the project's local photo.png (only
those named in `AGENT_VIDEOS`, comma-separated, when it is set: a long job's test)."""
if os.environ.get("AGENT_VIDEOS"):
    VIDEOS = {name: VIDEOS[name] for name in os.environ["AGENT_VIDEOS"].split(",")}

MAX_CALLS = 12
"""A scripted model stops after this many tool calls for one video (a loop is a failure)."""

_PREDICTION = re.compile(r'prediction[_ ]id[\\"\': =]*([0-9a-f]{32})')
_RUNNING = ("still running", '"status": "processing"', "'status': 'processing'")
_FAILED_CALL = (
    "An error occurred while running the tool",
    "Timed out",
    "MCP tool execution failed",
)
"""What a framework hands its model when its client gave up on a call (its time limit)."""


def argv() -> tuple[str, dict[str, Any]]:
    """(transport, target) from the command line."""
    return sys.argv[1], json.loads(sys.argv[2])


def as_text(result: Any) -> str:
    """Whatever a framework hands its model for a tool result, as the text the model reads."""
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, default=lambda o: getattr(o, "__dict__", str(o)))
    except (TypeError, ValueError):
        return str(result)


@dataclass
class Script:
    """The scripted model for one video: generate, then atlas_check_status (wait) while
    the job is still running, then stop. `calls` records each tool call it made."""

    video: str
    calls: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    abandoned: int = 0
    """Calls the framework's client gave up on (its time limit)."""

    def next_call(self, last_result: Any | None) -> tuple[str, dict[str, Any]] | None:
        """The tool call to make after `last_result` (None: the first), or None: done."""
        if last_result is not None:
            self.results.append(as_text(last_result))
        if not self.calls:
            return self._call("atlas_generate_video", dict(VIDEOS[self.video]))
        text = self.results[-1]
        if any(mark in text for mark in _FAILED_CALL) and len(self.calls) < MAX_CALLS:
            self.abandoned += 1
            return self._call(*self._last)  # "Please try again", as a model does
        found = _PREDICTION.search(text)
        if any(mark in text for mark in _RUNNING) and found and len(self.calls) < MAX_CALLS:
            save_to = VIDEOS[self.video]["save_to"]
            arguments = {"prediction_id": found.group(1), "wait": True, "save_to": save_to}
            return self._call("atlas_check_status", arguments)
        return None

    def _call(self, name: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.calls.append(name)
        self._last = (name, arguments)
        return name, arguments

    def report(self) -> dict[str, Any]:
        return {
            "tool_calls": len(self.calls),
            "calls": self.calls,
            "abandoned": self.abandoned,
            "last": self.results[-1:],
        }


def emit(framework: str, version: str, scripts: list[Script], **extra: Any) -> None:
    """The one line the driver reads."""
    out = {
        "framework": framework,
        "version": version,
        "videos": {s.video: s.report() for s in scripts},
        **extra,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
