"""The first tool call of a session, against an anchor: `atlas_list_models` as the first
call after the handshake (it fetches the catalog from the simulator; the server builds its
HTTP transport then), and the same first call to the anchor, a bare MCP server on the same
SDK (bench/sdk_floor.py) whose `models` tool makes the same GET with an httpx2 client it
built at start. Both spoken to in raw JSON-RPC over their pipes, alternately.

Target: the first `atlas_list_models` within 1.5x the anchor's first call, for a session
of a day the server has run before (its state directory holds the notes of the listed
models' schemas, atlas/takes.py, as every session after the day's first does). A second
row, with no target, times the day's first session (a fresh state directory: the ~40
schema reads happen). What the first call once paid, and no longer does: ~330 ms loading
the TLS trust store on the event loop, even for an http:// Atlas; building the HTTP
transport (atlas/transport.py, now warmed as the server starts); walking every object
of the catalog to clean it (atlas/sanitize.py `clean_answer`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from atlas_mcp_py.simulator import SimulatorServer, SimulatorState
from bench.common import Measurement, median, server_env
from bench.startup import CLIENT_INFO, HANDSHAKE, _Wire, atlas_mcp_command

NAME = "first_call"
RATIO = 1.5


def first_call(command: list[str], env: dict[str, str], tool: str) -> float:
    """Seconds from the first `tools/call` of `tool` (after initialize and tools/list) to
    its answer, in a freshly spawned server."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=env
        )
        wire = _Wire(proc)
        try:
            init = {"protocolVersion": HANDSHAKE, "capabilities": {}, "clientInfo": CLIENT_INFO}
            wire.answer(wire.request("initialize", init))
            wire.notify("notifications/initialized")
            wire.answer(wire.request("tools/list"))
            sent = time.monotonic()
            wire.answer(wire.request("tools/call", {"name": tool, "arguments": {}}))
            return time.monotonic() - sent
        except Exception:
            errors.seek(0)
            sys.stderr.write(errors.read().decode(errors="replace"))
            raise
        finally:
            wire.stdin.close()
            try:
                proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                wire.stdout.close()


def run(quick: bool) -> list[Measurement]:
    runs = 5 if quick else 11
    ours: list[float] = []
    anchor: list[float] = []
    days_first: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="atlas-bench-first-") as tmp,
        SimulatorServer(SimulatorState()) as sim,
    ):
        env = server_env(sim.base_url, Path(tmp))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        anchor_env = {**env, "FLOOR_HTTP_URL": f"{sim.base_url}/api/v1/models"}
        anchor_command = [sys.executable, "-m", "bench.sdk_floor"]
        # warm-up: .pyc caches, and the day's first session, which notes the schemas
        first_call(atlas_mcp_command(), env, "atlas_list_models")
        first_call(anchor_command, anchor_env, "models")
        for i in range(runs):
            order = ["ours", "anchor", "days_first"]
            for what in reversed(order) if i % 2 else order:
                if what == "ours":
                    ours.append(first_call(atlas_mcp_command(), env, "atlas_list_models"))
                elif what == "anchor":
                    anchor.append(first_call(anchor_command, anchor_env, "models"))
                else:
                    fresh = {**env, "ATLAS_MCP_STATE_DIR": str(Path(tmp) / f"fresh-{i}")}
                    days_first.append(first_call(atlas_mcp_command(), fresh, "atlas_list_models"))
    ours_ms, anchor_ms = median(ours) * 1000, median(anchor) * 1000
    ratio = ours_ms / anchor_ms
    days_first_ms = median(days_first) * 1000
    return [
        Measurement(
            NAME,
            "anchor: bare SDK server, first call (one httpx2 GET of the models)",
            round(anchor_ms, 1),
            "ms",
            detail={"runs": runs, "min_ms": round(min(anchor) * 1000, 1)},
        ),
        Measurement(
            NAME,
            "first atlas_list_models call / the anchor's first call",
            round(ratio, 2),
            "x",
            target=f"<= {RATIO}x",
            ok=ratio <= RATIO,
            detail={"first atlas_list_models median ms": round(ours_ms, 1), "runs": runs},
        ),
        Measurement(
            NAME,
            "the day's first session (no notes: the listed models' schemas read) / the anchor",
            round(days_first_ms / anchor_ms, 2),
            "x",
            detail={"first atlas_list_models median ms": round(days_first_ms, 1), "runs": runs},
        ),
    ]
