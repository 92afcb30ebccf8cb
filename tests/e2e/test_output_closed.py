"""Every command stops quietly when the reader of its output goes away (`atlas-mcp doctor
| head -1`): no traceback, no "Exception ignored", the exit status a shell expects."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_mcp_py.cli import EXIT_OUTPUT_CLOSED

TIMEOUT = 120


def quiet(stderr: str) -> bool:
    return "Traceback" not in stderr and "Exception ignored" not in stderr


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS")}
    env.update(ATLAS_MCP_STATE_DIR=str(tmp_path / "state"), **extra)
    return env


@pytest.fixture
def stalled_api() -> Iterator[socket.socket]:
    """A listening socket that never accepts: a request to it hangs until it is closed
    (which resets the connection), so the test decides when the doctor moves on."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener
    finally:
        listener.close()


def test_doctor_piped_into_head_ends_quietly_with_141(
    tmp_path: Path, stalled_api: socket.socket
) -> None:
    """`atlas-mcp doctor | head -1` with real processes. The API check hangs on the stalled
    server until head has read its line and exited; then the doctor writes into the closed
    pipe."""
    port = stalled_api.getsockname()[1]
    env = clean_env(tmp_path, ATLASCLOUD_BASE_URL=f"http://127.0.0.1:{port}")
    doctor = subprocess.Popen(
        [sys.executable, "-m", "atlas_mcp_py", "doctor"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert doctor.stdout is not None and doctor.stderr is not None
    head = subprocess.Popen(["head", "-n", "1"], stdin=doctor.stdout, stdout=subprocess.PIPE)
    doctor.stdout.close()  # head holds the only read end now
    first, _ = head.communicate(timeout=TIMEOUT)
    assert first.startswith(b"atlas-mcp ")
    assert head.returncode == 0
    stalled_api.close()  # the doctor's request fails; it goes on writing, into nothing
    stderr = doctor.stderr.read().decode()
    assert doctor.wait(timeout=TIMEOUT) == EXIT_OUTPUT_CLOSED == 141, stderr
    assert quiet(stderr), stderr
    doctor.stderr.close()


@pytest.mark.parametrize(
    "args",
    [
        ["doctor"],
        ["demo", "--job-seconds", "0.5"],
        ["--help"],
        ["--version"],
        ["serve", "--help"],
        ["simulator", "--help"],
        ["demo", "--help"],
    ],
    ids=" ".join,
)
def test_a_command_whose_output_pipe_is_already_closed_ends_quietly(
    tmp_path: Path, args: list[str]
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: every write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "atlas_mcp_py", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=clean_env(tmp_path, ATLASCLOUD_BASE_URL="http://127.0.0.1:9"),
            cwd=tmp_path,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(write_end)
    assert quiet(done.stderr), done.stderr
    if "--help" in args or "--version" in args:
        assert done.returncode == 0  # argparse drops what it could not write, then exits 0
    else:
        assert done.returncode == EXIT_OUTPUT_CLOSED, done.stderr
    assert not (tmp_path / "atlas-demo.mp4").exists() or args[0] == "demo"


def test_the_stdio_server_whose_client_stopped_reading_ends_quietly(tmp_path: Path) -> None:
    """An IDE that closed its end of the server's stdout while a request was in flight."""
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "gone", "version": "1"},
        },
    }
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "atlas_mcp_py"],
            input=json.dumps(initialize) + "\n",
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=clean_env(tmp_path),
            cwd=tmp_path,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(write_end)
    assert quiet(done.stderr), done.stderr
    assert done.returncode == EXIT_OUTPUT_CLOSED, done.stderr
