"""A team server as it is deployed: replicas of `atlas-mcp serve --transport http` (real
subprocesses) sharing one PostgreSQL ledger, behind a real HAProxy on 127.0.0.1.

Used by tests/e2e/test_replicas.py and bench/replicas.py. HAProxy balances round-robin
(a 2026-07-28 request is one self-contained POST: any replica answers it), keeps a
2025-era session on the replica that created it (a stick table learnt from the
`Mcp-Session-Id` response header), checks `/healthz` every second (down after 3
misses: a loaded machine must not scatter sessions), and retries a refused connection
on another replica.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from helpers import free_port

HAPROXY_CONFIG = """
global
    maxconn 8192
    log stdout format raw local0 info
defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    timeout connect 2s
    timeout client 10m
    timeout server 10m
    retries 3
    option redispatch
frontend mcp
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /healthz
    stick-table type string len 128 size 100k expire 30m
    stick match req.hdr(mcp-session-id)
    stick store-response res.hdr(mcp-session-id)
{servers}
"""


SERVE = [sys.executable, "-m", "atlas_mcp_py", "serve", "--transport", "http"]


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def kill(self) -> None:
        """SIGKILL: the replica dies mid-whatever, no hand-off."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@dataclass
class Cluster:
    replicas: list[Replica]
    lb_port: int
    directory: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The load balancer's MCP endpoint."""
        return f"http://127.0.0.1:{self.lb_port}/mcp"


def replica_env(
    directory: Path, base_url: str, api_key: str, database_url: str, tokens: Path, **extra: str
) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(directory),
        "ATLASCLOUD_API_KEY": api_key,
        "ATLASCLOUD_BASE_URL": base_url,
        "ATLAS_MCP_DATABASE_URL": database_url,
        "ATLAS_MCP_HTTP_TOKENS_FILE": str(tokens),
        "ATLAS_MCP_STATE_DIR": str(directory / "state"),
        "ATLAS_MCP_POLL_MIN": "0.1",
        "ATLAS_MCP_POLL_MAX": "0.2",
        "ATLAS_MCP_HEARTBEAT": "0.5",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    env.update(extra)
    return env


def _start_replica(name: str, env: dict[str, str], directory: Path) -> Replica:
    port = free_port()
    log = directory / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*SERVE, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    return Replica(name, port, process, log)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(httpx2.TransportError):
            if httpx2.get(url, timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer")
        time.sleep(0.1)


@contextlib.contextmanager
def run_cluster(
    haproxy: str,
    count: int,
    *,
    base_url: str,
    api_key: str,
    database_url: str,
    tokens: Path,
    **extra: str,
) -> Iterator[Cluster]:
    """`count` replicas and HAProxy in front of them; everything stopped at the end."""
    directory = Path(tempfile.mkdtemp(prefix="atlas-cluster-"))
    env = replica_env(directory, base_url, api_key, database_url, tokens, **extra)
    replicas = [_start_replica(f"r{n}", env, directory) for n in range(1, count + 1)]
    lb_port = free_port()
    cluster = Cluster(replicas, lb_port, directory)
    try:
        for replica in replicas:
            base = replica.url.removesuffix("/mcp")
            _wait_healthy(f"{base}/healthz", replica.process, replica.log)
        servers = "\n".join(
            f"    server {r.name} 127.0.0.1:{r.port} check inter 1s fall 3 rise 2" for r in replicas
        )
        config = directory / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(port=lb_port, servers=servers))
        lb_log = directory / "haproxy.log"
        with open(lb_log, "wb") as out:
            lb = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=out, stderr=out)
        cluster.processes.append(lb)
        _wait_healthy(f"http://127.0.0.1:{lb_port}/healthz", lb, lb_log)
        yield cluster
    finally:
        for process in [*cluster.processes, *(r.process for r in replicas)]:
            if process.poll() is None:
                process.terminate()
        for process in [*cluster.processes, *(r.process for r in replicas)]:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if not os.environ.get("ATLAS_KEEP_CLUSTER"):  # set it to read the logs afterwards
            shutil.rmtree(directory, ignore_errors=True)
