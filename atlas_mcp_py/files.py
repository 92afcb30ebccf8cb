"""Local files: allowed roots, path confinement, upload sources.

Every path a tool receives was chosen by a model that may have read untrusted text.
A path is accepted only when its real path (symlinks resolved) lies inside an allowed
root, compared component by component, never by string prefix.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["AllowedRoots", "FileRefused", "UploadSource", "is_within", "open_upload_source"]


class FileRefused(Exception):
    """A path or file the server will not read or write; the message says why."""


def is_within(path: Path, root: Path) -> bool:
    """True when `path` is `root` or below it, component by component (both absolute)."""
    path_parts = path.parts
    root_parts = root.parts
    return path_parts[: len(root_parts)] == root_parts


@dataclass(frozen=True)
class AllowedRoots:
    """Directories the server may read uploads from and write results into (real paths)."""

    roots: tuple[Path, ...]
    source: str = "configured"
    """Where they came from: "ATLAS_MCP_ROOTS", "client", or "working directory"."""

    @classmethod
    def from_paths(cls, paths: Iterable[Path | str], source: str) -> AllowedRoots:
        resolved: list[Path] = []
        for raw in paths:
            real = Path(os.path.realpath(Path(raw).expanduser()))
            if real.is_dir() and real not in resolved:
                resolved.append(real)
        if not resolved:
            raise FileRefused(f"none of the allowed roots ({source}) is an existing directory")
        return cls(tuple(resolved), source)

    def describe(self) -> str:
        return os.pathsep.join(str(r) for r in self.roots)

    def resolve(self, raw: str) -> Path:
        """The real path of `raw` (relative to the first root), or `FileRefused`."""
        if not raw or not raw.strip():
            raise FileRefused("the path is empty")
        if "\x00" in raw:
            raise FileRefused("the path contains a NUL byte")
        candidate = Path(raw).expanduser()
        if not candidate.is_absolute():
            candidate = self.roots[0] / candidate
        real = Path(os.path.realpath(candidate))
        if not any(is_within(real, root) for root in self.roots):
            raise FileRefused(
                f"{raw!r} is outside the allowed roots ({self.describe()}); "
                "move the file into the workspace or set ATLAS_MCP_ROOTS"
            )
        return real


@dataclass
class UploadSource:
    """An open regular file ready to stream, with what Atlas needs to know about it."""

    file: IO[bytes]
    path: Path
    filename: str
    content_type: str
    size: int

    def close(self) -> None:
        self.file.close()


def open_upload_source(path: Path, *, max_bytes: int, allowed: Sequence[str] = ()) -> UploadSource:
    """Open a confined, already-resolved path for upload."""
    if not path.exists():
        raise FileRefused(f"{path} does not exist")
    if not path.is_file():
        raise FileRefused(f"{path} is not a regular file")
    size = path.stat().st_size
    if size > max_bytes:
        raise FileRefused(f"{path} is {size} bytes, over the {max_bytes}-byte upload limit")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if not content_type.startswith(("image/", "video/", "audio/")):
        raise FileRefused(f"{path.name} is not an image, video or audio file")
    return UploadSource(path.open("rb"), path, path.name, content_type, size)
