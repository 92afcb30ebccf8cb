"""Sizes and shapes of tool arguments no real call has, refused with a clear message
before anything is read, sent or billed (instead of failing somewhere deeper, with an
error that says nothing: a 100 KB prediction id made an invalid URL, a 300-character
file name an `OSError` in the middle of a save).

Each check returns nothing or raises `ArgumentLimit` (a `ValueError`), whose message says
what was wrong and what to pass instead; the server turns it into a tool error.
"""

from __future__ import annotations

import os
import re

__all__ = [
    "MAX_NAME_BYTES",
    "MAX_PATH_CHARS",
    "MAX_PREDICTION_ID_CHARS",
    "ArgumentLimit",
    "check_path",
    "check_prediction_id",
    "check_prompt",
]

MAX_PREDICTION_ID_CHARS = 200
"""Atlas ids are 32 hex characters; generous room for other shapes, none for a blob."""
MAX_NAME_BYTES = 255
"""The longest file or directory name (NAME_MAX) of Linux, macOS and Windows file systems."""
MAX_PATH_CHARS = 4096
_ID_SHAPE = re.compile(r"[^\s\x00-\x1f\x7f]+")
"""One word: no space or control character (Atlas ids are hex; the client quotes the rest)."""


class ArgumentLimit(ValueError):
    """A tool argument is out of any sensible shape; the message says what to pass."""


def _show(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def check_prediction_id(prediction_id: str) -> None:
    value = prediction_id.strip()
    if len(value) > MAX_PREDICTION_ID_CHARS:
        raise ArgumentLimit(
            f"prediction_id is {len(value):,} characters long ({_show(value)}); Atlas "
            "prediction ids are short (32 hex characters, like "
            "'4be9c52a0f6b4c1d9e8a7b6c5d4e3f21'). Pass the prediction_id that "
            "atlas_generate_video or atlas_list_jobs returned. Nothing was sent."
        )
    if not _ID_SHAPE.fullmatch(value):
        raise ArgumentLimit(
            f"prediction_id {_show(value)} is not an Atlas prediction id (one word, no "
            "spaces or control characters). Pass the prediction_id that "
            "atlas_generate_video or atlas_list_jobs returned. Nothing was sent."
        )


def check_prompt(prompt: str) -> None:
    if not prompt.strip():
        raise ArgumentLimit(
            "prompt is empty (only whitespace): describe the video to make, e.g. "
            "'a mug turning slowly on a wooden table'. Nothing was sent or billed."
        )


def check_path(argument: str, path: str) -> None:
    """A local path argument (`path`, `image`, `save_to`): no name in it longer than any
    file system allows, and no path longer than any allows."""
    if len(path) > MAX_PATH_CHARS:
        raise ArgumentLimit(
            f"{argument} is {len(path):,} characters long ({_show(path)}); paths are at most "
            f"{MAX_PATH_CHARS} characters. Pass a shorter path. Nothing was sent."
        )
    parts = re.split(r"[\\/]" if os.sep == "\\" else "/", path)
    for name in parts:
        size = len(name.encode("utf-8", "surrogatepass"))
        if size > MAX_NAME_BYTES:
            raise ArgumentLimit(
                f"{argument} has a file name of {size} bytes ({_show(name)}); file systems "
                f"allow at most {MAX_NAME_BYTES} bytes per name. Rename the file (or choose "
                "a shorter name) and call again. Nothing was sent."
            )
