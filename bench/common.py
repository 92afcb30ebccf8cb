"""Shared pieces of the benchmarks: results, the machine, a stdio server, /proc readings.

Every benchmark module exposes `NAME` (short, used by `--only`) and
`run(quick: bool) -> list[Measurement]`. Timings are medians or percentiles of repeated
runs; targets are checked here and reported, never asserted in the test suite.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from atlas_mcp_py.simulator import SIMULATOR_API_KEY

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


@dataclass
class Measurement:
    """One figure: `ok` is None when the figure has no target (context only)."""

    bench: str
    name: str
    value: float
    unit: str
    target: str | None = None
    ok: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "mcp": metadata.version("mcp"),
        "commit": commit or None,
    }


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / MIB, 1)
    except OSError:
        pass
    return None


def quiet_logging() -> None:
    """Servers built in the bench's own process log as the stdio ones it starts do
    (ATLAS_MCP_LOG_LEVEL=WARNING): warnings and up, to stderr. A root handler in place
    also keeps the SDK from installing its own (rich) one."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


# --- /proc readings of a child process (Linux) -------------------------------------------


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


# --- the MCP server over stdio, as an IDE starts it --------------------------------------


def server_env(base_url: str, root: Path, **extra: str) -> dict[str, str]:
    """Environment for a server pointed at the simulator, with a private ledger."""
    return {
        **os.environ,
        "ATLASCLOUD_API_KEY": SIMULATOR_API_KEY,
        "ATLASCLOUD_BASE_URL": base_url,
        "ATLAS_MCP_ROOTS": str(root),
        "ATLAS_MCP_STATE_DIR": str(root / ".state"),
        "ATLAS_MCP_LOG_LEVEL": "WARNING",
        **extra,
    }


@dataclass
class RunningServer:
    client: Client
    pid: int


@asynccontextmanager
async def stdio_server(
    env: Mapping[str, str], read_timeout_seconds: float = 600, module: str = "atlas_mcp_py"
) -> AsyncIterator[RunningServer]:
    """`python -m <module>` over stdio through the SDK client; its pid via `exec`."""
    with tempfile.TemporaryDirectory(prefix="atlas-bench-pid-") as tmp:
        pidfile = Path(tmp) / "server.pid"
        params = StdioServerParameters(
            command="/bin/sh",
            args=["-c", f'echo $$ > "{pidfile}"; exec "{sys.executable}" -m {module}'],
            env=dict(env),
        )
        async with Client(params, read_timeout_seconds=read_timeout_seconds) as client:
            yield RunningServer(client, int(pidfile.read_text()))
