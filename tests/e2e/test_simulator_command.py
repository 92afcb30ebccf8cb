"""`atlas-mcp simulator` as a user runs it: the API on --port, schemas on the next port,
jobs as long as the real ones unless --job-seconds speeds them up."""

from __future__ import annotations

import os
import signal
import socket
import sys

import anyio
import httpx2
import pytest
from helpers import wait_until_answering

from atlas_mcp_py.simulator import SIMULATOR_API_KEY

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {SIMULATOR_API_KEY}"}
JOB = {"model": "minimax/hailuo-02/fast", "image": "https://example.com/frame.png"}


def two_free_ports() -> int:
    """A port P with P + 1 free too (checked, not reserved: the command binds them itself)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no two adjacent free ports")


async def run_and_submit(*args: str) -> tuple[str, dict[str, object], object]:
    """Start the command, submit one job: the model's schema URL, the job as polled, and
    the job length the simulator reports (None: each model's own)."""
    port = two_free_ports()
    base = f"http://127.0.0.1:{port}"
    env = {"PATH": os.environ.get("PATH", ""), "NO_PROXY": "127.0.0.1"}
    command = [sys.executable, "-m", "atlas_mcp_py", "simulator", "--port", str(port), *args]
    process = await anyio.open_process(command, env=env, stdout=None, stderr=None)
    try:
        await wait_until_answering(f"{base}/api/v1/models", process)
        async with httpx2.AsyncClient(base_url=base, headers=AUTH) as http:
            models = (await http.get("/api/v1/models")).json()["data"]
            schema_url = next(m["schema"] for m in models if m["model"] == JOB["model"])
            async with httpx2.AsyncClient() as anonymous:
                assert (await anonymous.get(schema_url)).status_code == 200
            created = await http.post("/api/v1/model/generateVideo", json=JOB)
            prediction_id = created.json()["data"]["id"]
            job: dict[str, object] = {}
            with anyio.fail_after(30):
                while job.get("status") not in ("completed", "failed"):
                    answer = await http.get(f"/api/v1/model/prediction/{prediction_id}")
                    job = answer.json()["data"]
                    if "--job-seconds" not in args:
                        break  # a realistic job: one look is enough
                    await anyio.sleep(0.1)
            length = (await http.get("/_sim/state")).json()["job_seconds"]
        return schema_url.replace(str(port + 1), "{static}"), job, length
    finally:
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(10):
            await process.wait()


async def test_the_command_serves_schemas_on_the_next_port_and_runs_jobs_for_real_lengths() -> None:
    schema_url, job, length = await run_and_submit()
    assert schema_url == "http://127.0.0.1:{static}/model/schema/minimax/hailuo-02/fast.json"
    assert length is None  # each model's own length: 45 s for this one
    assert job["status"] in ("created", "queued")


async def test_job_seconds_speeds_the_jobs_up() -> None:
    _, job, length = await run_and_submit("--job-seconds", "0.5")
    assert length == 0.5
    assert job["status"] == "completed"
