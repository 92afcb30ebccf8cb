"""The first tool call of a session, against an anchor: `atlas_list_models` as the first
call after the handshake (it fetches the catalog from the simulator; the server builds its
HTTP transport then), and the same first call to the anchor, a bare MCP server on the same
SDK (bench/sdk_floor.py) whose `models` tool makes the same GET with an httpx2 client it
built at start. Both spoken to in raw JSON-RPC over their pipes, alternately.

Target: the first `atlas_list_models` within 1.5x the anchor's first call. What it once
paid, and no longer does: ~330 ms loading the TLS trust store on the event loop at that
first request, even for an http:// Atlas (atlas/transport.py).
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
    with (
        tempfile.TemporaryDirectory(prefix="atlas-bench-first-") as tmp,
        SimulatorServer(SimulatorState()) as sim,
    ):
        env = server_env(sim.base_url, Path(tmp))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        anchor_env = {**env, "FLOOR_HTTP_URL": f"{sim.base_url}/api/v1/models"}
        anchor_command = [sys.executable, "-m", "bench.sdk_floor"]
        first_call(atlas_mcp_command(), env, "atlas_list_models")  # warm-up: .pyc caches
        first_call(anchor_command, anchor_env, "models")
        for i in range(runs):
            pair = [("ours", ours), ("anchor", anchor)]
            for what, into in reversed(pair) if i % 2 else pair:
                if what == "ours":
                    into.append(first_call(atlas_mcp_command(), env, "atlas_list_models"))
                else:
                    into.append(first_call(anchor_command, anchor_env, "models"))
    ours_ms, anchor_ms = median(ours) * 1000, median(anchor) * 1000
    ratio = ours_ms / anchor_ms
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
    ]
