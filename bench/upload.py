"""Upload memory and throughput: `atlas_upload_media` on a 1 GiB file (`--quick`: 256 MiB).

1. starts the bundled simulator in this process (upload limit raised above the file size)
   and writes a test file (an MP4 header, then pseudo-random bytes) to a temporary root;
2. uploads it with `curl -F file=@...` to the simulator: the baseline throughput (skipped,
   with a note, when curl is not installed);
3. starts the MCP server the way an IDE does (`python -m atlas_mcp_py` over stdio), warms
   it up with a 1 MiB upload, reads its peak RSS (`VmHWM` in /proc/<pid>/status), then
   calls `atlas_upload_media` on the big file once per round (one byte changed each round,
   so no round is answered from the reuse cache) and reads the peak RSS again;
4. uploads the unchanged file once more to time a reuse hit (sha256 only, no request).

Figures are medians over the rounds (3; `--quick`: 1). Linux only (/proc).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer, SimulatorState
from bench.common import MIB, Measurement, median, peak_rss_mib, server_env, stdio_server

NAME = "upload"
MB_PER_MIB = 1.048576
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def write_test_file(path: Path, size: int) -> None:
    block = os.urandom(16 * MIB)
    with open(path, "wb") as out:
        out.write(MP4_HEAD)
        left = size - len(MP4_HEAD)
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= min(left, len(block))


def touch_byte(path: Path, round_no: int) -> None:
    """Change one byte past the header, so the content (and its sha256) is new."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, bytes([round_no % 256]), 4096)
    finally:
        os.close(fd)


def curl_upload(base_url: str, path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            "-o",
            os.devnull,
            "-H",
            f"Authorization: Bearer {SIMULATOR_API_KEY}",
            "-F",
            f"file=@{path};type=video/mp4",
            f"{base_url}/api/v1/model/uploadMedia",
        ],
        check=True,
    )
    return time.perf_counter() - started


async def server_rounds(
    sim: SimulatorServer, root: Path, big: Path, rounds: int, size: int
) -> dict[str, Any]:
    env = server_env(
        sim.base_url, root, ATLAS_MCP_MAX_UPLOAD_BYTES=str(size + MIB)
    )  # the state dir is under root: not the user's ledger
    small = root / "small.mp4"
    small.write_bytes(MP4_HEAD + os.urandom(MIB))
    times: list[float] = []
    progress_counts: list[int] = []
    async with stdio_server(env) as server:
        client = server.client
        await client.call_tool("atlas_upload_media", {"path": small.name})  # warm-up
        before = peak_rss_mib(server.pid)
        for round_no in range(rounds):
            touch_byte(big, round_no + 1)
            sim.state.reset()  # delete the simulator's stored copies
            seen: list[float] = []

            async def on_progress(
                progress: float, total: float | None, msg: str | None, seen: list[float] = seen
            ) -> None:
                seen.append(progress)

            started = time.perf_counter()
            result = await client.call_tool(
                "atlas_upload_media", {"path": big.name}, progress_callback=on_progress
            )
            times.append(time.perf_counter() - started)
            progress_counts.append(len(seen))
            if result.is_error:
                raise RuntimeError(f"upload failed: {result.content}")
        after = peak_rss_mib(server.pid)
        uploads_before = sim.state.count("upload")
        started = time.perf_counter()
        await client.call_tool("atlas_upload_media", {"path": big.name})
        reuse: float | None = time.perf_counter() - started
        if sim.state.count("upload") != uploads_before:
            reuse = None  # reuse is off (ATLAS_MCP_UPLOAD_REUSE_SECONDS=0): it was sent again
    return {
        "times": times,
        "rss_before_mib": before,
        "rss_after_mib": after,
        "progress_notifications": progress_counts,
        "reuse_hit_seconds": reuse,
    }


def run(quick: bool) -> list[Measurement]:
    mib = 256 if quick else 1024
    rounds = 1 if quick else 3
    size = mib * MIB
    have_curl = shutil.which("curl") is not None
    with tempfile.TemporaryDirectory(prefix="atlas-bench-upload-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        big = root / "big.mp4"
        write_test_file(big, size)
        state = SimulatorState(max_upload_bytes=size + MIB)
        with SimulatorServer(state) as sim:
            curl_times = []
            for _ in range(rounds if have_curl else 0):
                state.reset()
                curl_times.append(curl_upload(sim.base_url, big))
            state.reset()
            server = anyio.run(server_rounds, sim, root, big, rounds, size)
        state.close()
    ours = median(server["times"])
    increase_mb = (server["rss_after_mib"] - server["rss_before_mib"]) * MB_PER_MIB
    detail = {
        "file_mib": mib,
        "rounds": rounds,
        "server_seconds": [round(t, 2) for t in server["times"]],
        "progress_notifications_per_upload": server["progress_notifications"],
        "reuse_hit_seconds": (
            None if server["reuse_hit_seconds"] is None else round(server["reuse_hit_seconds"], 2)
        ),
    }
    results = [
        Measurement(
            NAME, f"{mib} MiB through the server", round(mib / ours, 1), "MiB/s", detail=detail
        ),
    ]
    if curl_times:
        curl = median(curl_times)
        ratio = ours / curl
        results.append(
            Measurement(
                NAME,
                "server time / curl time",
                round(ratio, 2),
                "x",
                "<= 2x",
                ratio <= 2,
                {
                    "curl_seconds": [round(t, 2) for t in curl_times],
                    "curl_mib_per_s": round(mib / curl, 1),
                },
            )
        )
    else:
        results.append(
            Measurement(
                NAME, "server time / curl time", float("nan"), "x", detail={"skipped": "no curl"}
            )
        )
    results.append(
        Measurement(
            NAME,
            "server peak RSS increase",
            round(increase_mb, 1),
            "MB",
            "< 50 MB",
            increase_mb < 50,
            {
                "peak_rss_mib_before": round(server["rss_before_mib"], 1),
                "peak_rss_mib_after": round(server["rss_after_mib"], 1),
            },
        )
    )
    return results
