"""Cold start and context cost (issue items 1 and 2).

Cold start is the wall time from spawning `atlas-mcp` (the console script an IDE runs)
to its `initialize` answer, and on to its `tools/list` answer. The exchange is raw
JSON-RPC over the pipes, so no client library's import time is counted: `initialize` is
written as soon as the process exists, the clock stops when its answer line arrives,
then `notifications/initialized` and `tools/list` go out and the clock stops again.

The floor is `python -c "import mcp.server"`, measured in the same loop (floor and
server runs alternate, so machine noise hits both alike). It is timed two ways: spawn to
a line the floor process writes once the import is done (like an answer), and spawn to
its exit, as the issue words it. The exit also counts the interpreter's teardown of the
~580 modules (some 300-400 ms here), which a server answering `initialize` has not yet
paid, so the comparison is made with the import-done time. The CPU time each process
had used when it answered is read from /proc too.

On a shared 2-vCPU machine the same process start varies by +-30 % from one second to
the next, so the difference of two medians of separate runs moves by 100 ms between
runs. The target (no more than 150 ms above the floor) is therefore checked on a
measurement of the same quantity inside one process: the server started as `atlas-mcp`
starts it, but with `import mcp.server` done first and its end stamped on the shared
monotonic clock; from that stamp to the `initialize` answer is what the server costs
above the floor. Both figures are reported.

What lazy imports move out of the start is paid by the first call that needs it, so the
2025-era runs go on with two first calls, each timed from request to answer: an
`atlas_list_models` (fetches the catalog from the bundled simulator; the first request
builds the HTTP transport) and an `atlas_generate_video` dry run (fetches the model's
input schema and validates the arguments: the first use of jsonschema).

The 2026-07-28 era has no `initialize`: the same runs are repeated with `server/discover`
then an enveloped `tools/list`, reported as context (no target).

Context cost is the size of the `tools/list` answer line (2025-11-25 era): bytes, and
tokens estimated as bytes / 4. Target: under 7,500 bytes (six tools).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from atlas_mcp_py.simulator import SimulatorServer, SimulatorState
from bench.common import Measurement, cpu_seconds, median, server_env

NAME = "startup"
HANDSHAKE = "2025-11-25"
MODERN = "2026-07-28"
FLOOR_MARGIN_MS = 150.0
MAX_TOOLS_LIST_BYTES = 7500
CLIENT_INFO = {"name": "atlas-bench", "version": "0"}
FLOOR_READY = "import mcp.server, sys; sys.stdout.write('ready\\n'); sys.stdout.flush()"
DRY_RUN = {"prompt": "a red fox runs through snow", "dry_run": True}
SPLIT_MARK = "mcp.server imported at "
SPLIT = (
    "import sys, time; import mcp.server; "
    f"sys.stderr.write('{SPLIT_MARK}' + repr(time.monotonic()) + '\\n'); sys.stderr.flush(); "
    "from atlas_mcp_py.cli import main; sys.exit(main())"
)
"""The server as `atlas-mcp` runs it, but importing mcp.server first and stamping the
moment (CLOCK_MONOTONIC is shared by processes): what follows is our own start cost."""


def atlas_mcp_command() -> list[str]:
    """The console script the venv installed, as an IDE's config names it."""
    script = Path(sys.executable).parent / "atlas-mcp"
    if not script.exists():
        raise RuntimeError(f"{script} is missing: install the project (pip install -e .)")
    return [str(script)]


@dataclass
class ServerRun:
    first: float
    """Seconds from spawn to the first answer (initialize, or server/discover)."""
    first_cpu: float
    """CPU seconds the server had used by then."""
    listed: float
    """Seconds from spawn to the tools/list answer."""
    listing: bytes
    """The tools/list answer line."""
    first_calls: dict[str, float]
    """Seconds from request to answer of each first tool call (2025 era only)."""
    after_sdk_import: float | None = None
    """With `split`: seconds from the end of `import mcp.server` to the first answer."""


class _Wire:
    """Raw JSON-RPC, one message a line, over a child's pipes."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin: IO[bytes] = proc.stdin
        self.stdout: IO[bytes] = proc.stdout
        self.next_id = 1

    def notify(self, method: str) -> None:
        self._write({"jsonrpc": "2.0", "method": method})

    def request(self, method: str, params: dict[str, Any] | None = None) -> int:
        request_id, self.next_id = self.next_id, self.next_id + 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self._write(message)
        return request_id

    def answer(self, request_id: int) -> bytes:
        """The answer line to `request_id` (skipping any notification on the way)."""
        while True:
            line = self.stdout.readline()
            if not line:
                raise RuntimeError(f"the server closed stdout before answering {request_id}")
            message = json.loads(line)
            if message.get("id") == request_id:
                if "error" in message or message.get("result", {}).get("isError"):
                    raise RuntimeError(f"request {request_id} failed: {line[:500]!r}")
                return line.rstrip(b"\n")

    def _write(self, message: dict[str, Any]) -> None:
        self.stdin.write(json.dumps(message).encode() + b"\n")
        self.stdin.flush()


def _modern_meta() -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    }


def server_run(
    env: dict[str, str], era: str, *, first_calls: bool = False, split: bool = False
) -> ServerRun:
    """One cold start. `era` HANDSHAKE sends initialize, MODERN server/discover; then
    tools/list; then, with `first_calls` (HANDSHAKE only), the two first tool calls.
    `split` runs the SPLIT command instead of `atlas-mcp`."""
    with tempfile.TemporaryFile() as errors:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", SPLIT] if split else atlas_mcp_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
        )
        wire = _Wire(proc)
        calls: dict[str, float] = {}
        try:
            if era == HANDSHAKE:
                init = {"protocolVersion": HANDSHAKE, "capabilities": {}, "clientInfo": CLIENT_INFO}
                wire.answer(wire.request("initialize", init))
                answered = time.monotonic()
                first = answered - started
                first_cpu = cpu_seconds(proc.pid)
                wire.notify("notifications/initialized")
                listing = wire.answer(wire.request("tools/list"))
            else:
                meta = {"_meta": _modern_meta()}
                wire.answer(wire.request("server/discover", meta))
                answered = time.monotonic()
                first = answered - started
                first_cpu = cpu_seconds(proc.pid)
                listing = wire.answer(wire.request("tools/list", meta))
            listed = time.monotonic() - started
            if first_calls and era == HANDSHAKE:
                for tool, arguments in (
                    ("atlas_list_models", {}),
                    ("atlas_generate_video", DRY_RUN),
                ):
                    sent = time.monotonic()
                    wire.answer(wire.request("tools/call", {"name": tool, "arguments": arguments}))
                    calls[tool] = time.monotonic() - sent
        except Exception:
            proc.kill()
            proc.wait()
            errors.seek(0)
            sys.stderr.write(errors.read().decode(errors="replace"))
            raise
        finally:
            wire.stdin.close()  # EOF: the server shuts down
            try:
                proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                wire.stdout.close()
        after_sdk_import = None
        if split:
            errors.seek(0)
            for line in errors.read().decode(errors="replace").splitlines():
                if line.startswith(SPLIT_MARK):
                    after_sdk_import = answered - float(line.removeprefix(SPLIT_MARK))
            if after_sdk_import is None:
                raise RuntimeError("the split run wrote no mcp.server stamp")
    return ServerRun(first, first_cpu, listed, listing, calls, after_sdk_import)


def floor_run(env: dict[str, str]) -> tuple[float, float, float]:
    """`python -c "import mcp.server"`: seconds from spawn to the line it writes once the
    import is done (like an answer), the CPU seconds used by then, and seconds to its
    exit (the issue's definition, which also counts the interpreter's teardown)."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", FLOOR_READY], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    if proc.stdout.readline() != b"ready\n":
        raise RuntimeError("python -c 'import mcp.server' failed")
    ready = time.monotonic() - started
    ready_cpu = cpu_seconds(proc.pid)
    proc.stdout.close()
    if proc.wait(timeout=60) != 0:
        raise RuntimeError("python -c 'import mcp.server' failed")
    return ready, ready_cpu, time.monotonic() - started


def tools_list_size(line: bytes) -> tuple[int, list[str]]:
    tools = json.loads(line)["result"]["tools"]
    return len(line), sorted(tool["name"] for tool in tools)


def run(quick: bool) -> list[Measurement]:
    runs = 5 if quick else 11
    times: dict[str, list[float]] = defaultdict(list)
    calls: dict[str, list[float]] = {"atlas_list_models": [], "atlas_generate_video": []}
    listing = b""
    with (
        tempfile.TemporaryDirectory(prefix="atlas-bench-startup-") as tmp,
        SimulatorServer(SimulatorState()) as sim,
    ):
        env = server_env(sim.base_url, Path(tmp))
        # As installed for an IDE: compiled modules cached. With this set (some CI and
        # sandbox shells set it), a module edited since its .pyc was written would be
        # compiled again on every start, and the warm-up could not refresh the cache.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        server_run(env, HANDSHAKE, first_calls=True)  # warm-up: .pyc caches, the ledger file
        floor_run(env)
        for i in range(runs):
            # Alternate the order so a slow spell does not always land on the same one.
            order = ["floor", HANDSHAKE, MODERN, "split"]
            if i % 2:
                order.reverse()
            for what in order:
                if what == "floor":
                    ready, ready_cpu, exited = floor_run(env)
                    times["ready"].append(ready)
                    times["ready_cpu"].append(ready_cpu)
                    times["exit"].append(exited)
                elif what == HANDSHAKE:
                    got = server_run(env, HANDSHAKE, first_calls=True)
                    times["init"].append(got.first)
                    times["init_cpu"].append(got.first_cpu)
                    times["list"].append(got.listed)
                    listing = got.listing
                    for tool, seconds in got.first_calls.items():
                        calls[tool].append(seconds)
                elif what == MODERN:
                    got = server_run(env, MODERN)
                    times["discover"].append(got.first)
                    times["modern_list"].append(got.listed)
                else:
                    got = server_run(env, HANDSHAKE, split=True)
                    assert got.after_sdk_import is not None
                    times["split"].append(got.after_sdk_import)
                    times["split_floor"].append(got.first - got.after_sdk_import)
    return _figures(times, calls, listing)


def _figures(
    times: dict[str, list[float]], calls: dict[str, list[float]], listing: bytes
) -> list[Measurement]:
    ms = {key: round(median(values) * 1000, 1) for key, values in times.items()}

    def spread(values: list[float]) -> dict[str, Any]:
        return {
            "runs": len(values),
            "min_ms": round(min(values) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1),
        }

    over = round(ms["init"] - ms["ready"], 1)
    paired = [(a - b) * 1000 for a, b in zip(times["init"], times["ready"], strict=True)]
    size, names = tools_list_size(listing)
    first_call = {tool: round(median(values) * 1000, 1) for tool, values in calls.items()}
    return [
        Measurement(
            NAME,
            'floor: python -c "import mcp.server", spawn to import done',
            ms["ready"],
            "ms",
            detail={**spread(times["ready"]), "cpu_ms": ms["ready_cpu"]},
        ),
        Measurement(
            NAME,
            'floor: python -c "import mcp.server", spawn to exit',
            ms["exit"],
            "ms",
            detail={**spread(times["exit"]), "teardown_ms": round(ms["exit"] - ms["ready"], 1)},
        ),
        Measurement(
            NAME,
            "spawn atlas-mcp -> initialize answer",
            ms["init"],
            "ms",
            detail={**spread(times["init"]), "cpu_ms": ms["init_cpu"], "protocol": HANDSHAKE},
        ),
        Measurement(
            NAME,
            "spawn atlas-mcp -> tools/list answer",
            ms["list"],
            "ms",
            detail=spread(times["list"]),
        ),
        Measurement(
            NAME,
            "spawn atlas-mcp -> server/discover answer (2026-07-28)",
            ms["discover"],
            "ms",
            detail={**spread(times["discover"]), "then tools/list median ms": ms["modern_list"]},
        ),
        Measurement(
            NAME,
            "initialize answer above the floor, medians of separate runs",
            over,
            "ms",
            detail={
                "median of paired differences ms": round(median(paired), 1),
                "cpu ms above the floor": round(ms["init_cpu"] - ms["ready_cpu"], 1),
                "above the spawn-to-exit floor ms": round(ms["init"] - ms["exit"], 1),
                "note": "two processes a second apart: noisy on a shared machine",
            },
        ),
        Measurement(
            NAME,
            "above the floor, same process: mcp.server imported -> initialize answer",
            ms["split"],
            "ms",
            target=f"<= {FLOOR_MARGIN_MS:.0f} ms",
            ok=ms["split"] <= FLOOR_MARGIN_MS,
            detail={
                **spread(times["split"]),
                "how": "python -c 'import mcp.server; <stamp>; atlas_mcp_py.cli.main()'",
                "spawn to the stamp (the run's own floor) median ms": ms["split_floor"],
            },
        ),
        Measurement(
            NAME,
            "first atlas_list_models call (fetches the catalog)",
            first_call["atlas_list_models"],
            "ms",
            detail=spread(calls["atlas_list_models"]),
        ),
        Measurement(
            NAME,
            "first atlas_generate_video dry run (schema fetch, validation)",
            first_call["atlas_generate_video"],
            "ms",
            detail=spread(calls["atlas_generate_video"]),
        ),
        Measurement(
            NAME,
            "tools/list answer size",
            size,
            "bytes",
            target=f"< {MAX_TOOLS_LIST_BYTES:,} bytes",
            ok=size < MAX_TOOLS_LIST_BYTES,
            detail={"tools": names, "protocol": HANDSHAKE},
        ),
        Measurement(NAME, "tools/list answer, estimated tokens (bytes/4)", size / 4, "tokens"),
    ]
