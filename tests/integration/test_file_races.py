"""Races on local files, through the MCP tools against the simulator: a thread swaps a
directory of the workspace for a symlink to an outside directory, over and over, while
uploads (or saves) run; nothing from outside may be uploaded, nothing written outside.

The swap is one atomic `renameat2(RENAME_EXCHANGE)` (Linux), so the directory is always
either the real one or the symlink, never missing: on the code that resolved the path and
then opened it by name, about 1 upload in 10 sent the outside file. Where the call is
missing, the swap takes a rename, a symlink, an unlink and a rename (leaks are rarer).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import PNG, simulator_settings, structured, text_of
from mcp import Client

from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio

TRIES = 200
INSIDE = PNG + b"inside the workspace"
SECRET = PNG + b"outside: must never be uploaded"
SAVE_HOLD = 0.001
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchanger() -> Any:
    """libc's renameat2, or None where there is none (not Linux, old glibc)."""
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None


@dataclass
class Swaps:
    count: int = 0
    error: BaseException | None = None


@contextmanager
def swapping(directory: Path, outside: Path, parked: Path, hold: float = 0.0) -> Iterator[Swaps]:
    """A thread swapping `directory` with a symlink to `outside` (parked at `parked` when
    not in place), back and forth until the block ends, leaving each in place for `hold`
    seconds (a save has more steps than an upload: with no pause, hardly one gets through
    between two swaps)."""
    os.symlink(outside, parked)
    renameat2 = _exchanger()
    stop = threading.Event()
    swaps = Swaps()

    def exchange() -> None:
        if renameat2(_AT_FDCWD, bytes(directory), _AT_FDCWD, bytes(parked), _RENAME_EXCHANGE):
            raise OSError(ctypes.get_errno(), "renameat2")

    def swap_by_steps() -> None:  # the directory is briefly missing
        os.rename(directory, f"{parked}.dir")
        os.rename(parked, directory)
        os.rename(directory, parked)
        os.rename(f"{parked}.dir", directory)

    def loop() -> None:
        try:
            while not stop.is_set():
                if renameat2 is None:
                    swap_by_steps()
                else:
                    exchange()
                    time.sleep(hold)
                    exchange()
                time.sleep(hold)
                swaps.count += 1
        except OSError as exc:
            swaps.error = exc

    if renameat2 is not None:
        try:
            exchange()
            exchange()
        except OSError as exc:  # a filesystem without RENAME_EXCHANGE
            if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            renameat2 = None
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield swaps
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive() and swaps.error is None, swaps.error


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_a_directory_swapped_for_a_symlink_during_uploads_never_leaks_outside_bytes(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "photo.png").write_bytes(INSIDE)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "photo.png").write_bytes(SECRET)
    settings = simulator_settings(sim, root, max_retries=0, upload_reuse_seconds=0)
    refused = 0
    async with Client(build_server(settings), mode="legacy") as client:
        with swapping(root / "sub", outside, tmp_path / "parked") as swaps:
            for _ in range(TRIES):
                with anyio.fail_after(10):
                    result = await client.call_tool("atlas_upload_media", {"path": "sub/photo.png"})
                if result.is_error:
                    refused += 1
                    assert "Refused to upload" in text_of(result), text_of(result)
    digests = [upload.sha256 for upload in sim.state.uploads.values()]
    leaked = digests.count(sha256(SECRET))
    assert swaps.count > TRIES  # the swap ran throughout
    assert digests.count(sha256(INSIDE)) > 0 and refused > 0  # both states were met
    assert leaked == 0, f"{leaked}/{TRIES} uploads sent the file outside the roots"


async def test_a_directory_swapped_for_a_symlink_during_saves_never_writes_outside(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """Saves walked from the root's descriptor before the fd walk came to uploads; this
    keeps them so."""
    root = tmp_path / "root"
    (root / "videos").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    settings = simulator_settings(sim, root, max_retries=0)
    saved = 0
    async with Client(build_server(settings), mode="legacy") as client:
        with anyio.fail_after(20):
            job = await client.call_tool("atlas_generate_video", {"prompt": "a fox"})
        prediction_id = structured(job)["prediction_id"]
        with swapping(root / "videos", outside, tmp_path / "parked", SAVE_HOLD) as swaps:
            for n in range(TRIES):  # TRIES // 4 saves, more while the swapper lags behind
                if n >= TRIES // 4 and swaps.count > TRIES // 4 and saved > 0:
                    break
                with anyio.fail_after(10):
                    result = await client.call_tool(
                        "atlas_check_status",
                        {"prediction_id": prediction_id, "save_to": f"videos/{n}.mp4"},
                    )
                if result.is_error:  # planned while swapped: refused before the job is read
                    assert "Refused save_to" in text_of(result), text_of(result)
                else:  # a save that fails midway is a note on a successful result
                    saved += structured(result).get("local_path") is not None
    assert swaps.count > TRIES // 4 and saved > 0
    assert sorted(os.listdir(outside)) == [], "a save was written outside the roots"
