"""Real PostgreSQL and HAProxy for the tests, installed and started by the tests themselves.

`postgres` (session): Debian's PostgreSQL, installed with apt-get when its binaries are
missing (CI runs as root on a fresh machine), initialised in a temporary directory and run
as the unprivileged user `nobody` on a free 127.0.0.1 port; stopped at the end of the
session. Each test asks it for a database of its own (`PostgresServer.new_database`).
Where apt is impossible (not root, binaries missing) the tests that need it skip, saying
why; CI runs as root, so there they always run.

`haproxy_binary`: Debian's HAProxy, installed the same way.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import free_port

UNPRIVILEGED = "nobody"
"""PostgreSQL refuses to run as root."""

_apt_updated = False


def apt_install(package: str, probe: str) -> str:
    """The path of `probe` (a glob), installing Debian's `package` first if it is missing.
    Skips the test where apt is impossible (not root); fails when apt fails."""
    global _apt_updated
    found = sorted(glob.glob(probe))
    if found:
        return found[-1]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{package} is not installed and apt-get needs root here")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
        _apt_updated = True
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        check=True,
        env=env,
        timeout=600,
        stdout=subprocess.DEVNULL,
    )
    found = sorted(glob.glob(probe))
    assert found, f"apt-get installed {package} but {probe} is missing"
    return found[-1]


def _as_nobody(*argv: str) -> list[str]:
    return ["runuser", "-u", UNPRIVILEGED, "--", *argv] if os.geteuid() == 0 else list(argv)


@dataclass
class PostgresServer:
    """A running PostgreSQL server on 127.0.0.1 (trust authentication, user postgres)."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def connections(self) -> int:
        """Client connections open right now (all databases)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            ).fetchone()
        return int(row[0]) - 1 if row else 0


@contextlib.contextmanager
def run_postgres() -> Iterator[PostgresServer]:
    initdb = apt_install("postgresql", "/usr/lib/postgresql/*/bin/initdb")
    bindir = Path(initdb).parent
    directory = Path(tempfile.mkdtemp(prefix="atlas-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, UNPRIVILEGED)
    data = directory / "data"
    subprocess.run(
        _as_nobody(str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"),
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )
    port = free_port()
    log = open(directory / "postgres.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        _as_nobody(
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(directory),
            "-c",
            "fsync=off",  # test data: speed over durability
            "-c",
            "max_connections=300",
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = PostgresServer(port, directory, process)
    try:
        _wait_ready(server, directory)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_ready(server: PostgresServer, directory: Path) -> None:
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        if server.process.poll() is not None:
            raise RuntimeError((directory / "postgres.log").read_text(errors="replace")[-2000:])
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def haproxy_binary() -> str:
    """Debian's haproxy, installed if missing."""
    found = shutil.which("haproxy")
    return found or apt_install("haproxy", "/usr/sbin/haproxy")
