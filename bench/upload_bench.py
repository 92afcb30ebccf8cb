"""Upload benchmark: memory and throughput of `atlas_upload_media` on a large file.

    .venv/bin/python bench/upload_bench.py            # 1 GiB, 3 rounds
    .venv/bin/python bench/upload_bench.py --mib 256 --rounds 1

What it does:
1. starts the bundled simulator in this process (upload limit raised above the file size)
   and writes a test file (an MP4 header, then pseudo-random bytes) to a temporary root;
2. uploads it with `curl -F file=@...` to the simulator: the baseline throughput;
3. starts the MCP server the way an IDE does (`python -m atlas_mcp_py` over stdio, its
   pid taken through `exec`), warms it up with a small upload, reads its peak RSS
   (`VmHWM` in /proc/<pid>/status), then calls `atlas_upload_media` on the big file once
   per round (one byte changed each round, so no upload is answered from the reuse cache)
   and reads the peak RSS again;
4. uploads the unchanged file once more to time a reuse hit (sha256 only, no request).

Linux only (/proc). Needs curl. Prints a table; bench/README.md records the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer, SimulatorState

MIB = 1024 * 1024
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


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


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
    pidfile = root.parent / "server.pid"
    params = StdioServerParameters(
        command="/bin/sh",
        args=["-c", f'echo $$ > "{pidfile}"; exec "{sys.executable}" -m atlas_mcp_py'],
        env={
            **os.environ,
            "ATLASCLOUD_API_KEY": SIMULATOR_API_KEY,
            "ATLASCLOUD_BASE_URL": sim.base_url,
            "ATLAS_MCP_ROOTS": str(root),
            "ATLAS_MCP_STATE_DIR": str(root.parent / "state"),  # not the user's ledger
            "ATLAS_MCP_MAX_UPLOAD_BYTES": str(size + MIB),
            "ATLAS_MCP_LOG_LEVEL": "WARNING",
        },
    )
    small = root / "small.mp4"
    small.write_bytes(MP4_HEAD + os.urandom(MIB))
    times: list[float] = []
    progress_counts: list[int] = []
    async with Client(params, read_timeout_seconds=600) as client:
        await client.call_tool("atlas_upload_media", {"path": small.name})  # warm-up
        pid = int(pidfile.read_text())
        before = peak_rss_mib(pid)
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
        after = peak_rss_mib(pid)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="test file size in MiB")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        print("curl is needed (apt-get install curl)", file=sys.stderr)
        return 2
    size = args.mib * MIB
    with tempfile.TemporaryDirectory(prefix="atlas-bench-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        big = root / "big.mp4"
        write_test_file(big, size)
        state = SimulatorState(max_upload_bytes=size + MIB)
        with SimulatorServer(state) as sim:
            curl_times = []
            for _ in range(args.rounds):
                state.reset()
                curl_times.append(curl_upload(sim.base_url, big))
            state.reset()
            server = anyio.run(server_rounds, sim, root, big, args.rounds, size)
        state.close()
    curl_best = statistics.median(curl_times)
    ours = statistics.median(server["times"])
    report = {
        "file_mib": args.mib,
        "curl_seconds": [round(t, 2) for t in curl_times],
        "server_seconds": [round(t, 2) for t in server["times"]],
        "curl_mib_per_s": round(args.mib / curl_best, 1),
        "server_mib_per_s": round(args.mib / ours, 1),
        "server_over_curl_time": round(ours / curl_best, 2),
        "server_peak_rss_mib_before": round(server["rss_before_mib"], 1),
        "server_peak_rss_mib_after": round(server["rss_after_mib"], 1),
        "server_peak_rss_increase_mib": round(
            server["rss_after_mib"] - server["rss_before_mib"], 1
        ),
        "progress_notifications_per_upload": server["progress_notifications"],
        "reuse_hit_seconds": (
            None if server["reuse_hit_seconds"] is None else round(server["reuse_hit_seconds"], 2)
        ),
    }
    print(json.dumps(report, indent=2))
    ok = report["server_peak_rss_increase_mib"] < 50 and report["server_over_curl_time"] <= 2
    print("PASS" if ok else "FAIL", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
