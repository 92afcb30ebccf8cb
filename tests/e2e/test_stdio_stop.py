"""`atlas-mcp` over stdio stopped mid-call, as an IDE closing does it: SIGTERM (or stdin
closing) while calls wait on long jobs, and while a generate POST is still on its way to
Atlas. Driven with raw JSON-RPC lines so the test sees exactly what reaches stdout."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, Fault, SimulatorServer

pytestmark = pytest.mark.anyio


class StdioPeer:
    """The IDE's end of the pipes: JSON-RPC lines out, lines in, every message kept."""

    def __init__(self, process: Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self._stdout = BufferedByteReceiveStream(process.stdout)
        self.answers: dict[int, dict[str, Any]] = {}
        self.progressed: set[str] = set()

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")

    async def read(self) -> dict[str, Any]:
        line = await self._stdout.receive_until(b"\n", 1 << 24)
        message: dict[str, Any] = json.loads(line)  # every stdout line is JSON-RPC
        if "id" in message and "method" not in message:
            self.answers[message["id"]] = message
        elif message.get("method") == "notifications/progress":
            self.progressed.add(message["params"]["progressToken"])
        return message

    async def read_until(self, done: Any) -> None:
        while not done():
            await self.read()

    async def read_to_end(self) -> None:
        """Every line until the server closes stdout."""
        try:
            while True:
                await self.read()
        except (anyio.EndOfStream, anyio.IncompleteRead):
            return

    async def initialize(self) -> None:
        await self.send(
            {
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "ide", "version": "1"},
                },
            }
        )
        await self.read_until(lambda: 0 in self.answers)
        await self.send({"method": "notifications/initialized"})

    async def generate(self, request_id: int, prompt: str) -> None:
        await self.send(
            {
                "id": request_id,
                "method": "tools/call",
                "params": {
                    "name": "atlas_generate_video",
                    "arguments": {"prompt": prompt},
                    "_meta": {"progressToken": f"p{request_id}"},
                },
            }
        )


def stdio_env(sim: SimulatorServer, tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ATLASCLOUD_API_KEY": SIMULATOR_API_KEY,
        "ATLASCLOUD_BASE_URL": sim.base_url,
        "ATLAS_MCP_ROOTS": str(tmp_path),
        "ATLAS_MCP_STATE_DIR": str(tmp_path / "state"),
        "ATLAS_MCP_POLL_MIN": "0.1",
        "ATLAS_MCP_POLL_MAX": "0.1",
        "ATLAS_MCP_HEARTBEAT": "0.3",
    }


async def start(sim: SimulatorServer, tmp_path: Path) -> StdioPeer:
    process = await anyio.open_process(
        [sys.executable, "-m", "atlas_mcp_py"], env=stdio_env(sim, tmp_path), stderr=None
    )
    return StdioPeer(process)


def hand_off(answer: dict[str, Any]) -> dict[str, Any]:
    """The structured result of a call answered with its hand-off."""
    assert "result" in answer, answer
    result = answer["result"]
    assert not result.get("isError"), result
    data: dict[str, Any] = result["structuredContent"]
    assert data["status"] == "processing" and data["prediction_id"], data
    text = " ".join(block.get("text", "") for block in result["content"])
    assert "atlas_check_status" in text
    return data


async def wait_for_jobs(sim: SimulatorServer, count: int) -> None:
    """Until the simulator holds `count` jobs (a POST reached it, its answer may be held)."""
    while len(sim.state.jobs()) < count:  # noqa: ASYNC110
        await anyio.sleep(0.02)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "stdin closed"])
async def test_stopping_mid_wait_answers_every_waiting_call_with_its_hand_off_then_exits_0(
    slow_sim: SimulatorServer, tmp_path: Path, how: str
) -> None:
    peer = await start(slow_sim, tmp_path)
    async with peer.process:
        with anyio.fail_after(40):
            await peer.initialize()
            for request_id in (1, 2):
                await peer.generate(request_id, f"a kite number {request_id}")
            await peer.read_until(lambda: peer.progressed >= {"p1", "p2"})
            if how == "stdin closed":
                assert peer.process.stdin is not None
                await peer.process.stdin.aclose()
            else:
                peer.process.send_signal(getattr(signal, how))
            await peer.read_to_end()
            returncode = await peer.process.wait()
    assert returncode == 0
    jobs = {job.id for job in slow_sim.state.jobs()}
    handed = {hand_off(peer.answers[i])["prediction_id"] for i in (1, 2)}
    assert handed == jobs and len(jobs) == 2
    with Ledger.open(Ledger.default_path(tmp_path / "state")) as ledger:
        for prediction_id in handed:
            record = ledger.get(prediction_id)
            assert record is not None and record.state == "processing"


async def test_sigterm_while_a_generate_post_is_on_its_way_records_and_returns_its_id(
    slow_sim: SimulatorServer, tmp_path: Path
) -> None:
    peer = await start(slow_sim, tmp_path)
    async with peer.process:
        with anyio.fail_after(40):
            await peer.initialize()
            await peer.generate(1, "a waiting kite")
            await peer.read_until(lambda: "p1" in peer.progressed)
            # Atlas creates the next job at once but holds its answer for 2 s
            slow_sim.state.add_fault(Fault(endpoint="generate", kind="slow", delay=2.0))
            await peer.generate(2, "a kite whose answer is slow")
            await wait_for_jobs(slow_sim, 2)
            peer.process.send_signal(signal.SIGTERM)
            await peer.read_until(lambda: 1 in peer.answers)  # handed off: the stop is on
            await peer.generate(3, "a kite asked for after the signal")
            await peer.read_to_end()
            returncode = await peer.process.wait()
    assert returncode == 0
    jobs = {job.id for job in slow_sim.state.jobs()}
    assert len(jobs) == 2, "the request sent after SIGTERM reached Atlas"
    handed = {hand_off(peer.answers[i])["prediction_id"] for i in (1, 2)}
    assert handed == jobs
    refused = peer.answers[3]["error"]["message"]
    assert "shutting down" in refused and "nothing was sent" in refused
    with Ledger.open(Ledger.default_path(tmp_path / "state")) as ledger:
        for prediction_id in handed:
            record = ledger.get(prediction_id)
            assert record is not None and record.state == "processing"


async def test_stdin_closed_then_sigterm_as_clients_do_still_records_and_returns_the_slow_id(
    slow_sim: SimulatorServer, tmp_path: Path
) -> None:
    """MCP clients end a stdio server by closing stdin, then SIGTERM a moment later: the
    signal must not cut short the stop that stdin closing began."""
    peer = await start(slow_sim, tmp_path)
    async with peer.process:
        with anyio.fail_after(40):
            await peer.initialize()
            slow_sim.state.add_fault(Fault(endpoint="generate", kind="slow", delay=2.0))
            await peer.generate(1, "a kite whose answer is slow")
            await wait_for_jobs(slow_sim, 1)
            assert peer.process.stdin is not None
            await peer.process.stdin.aclose()
            peer.process.send_signal(signal.SIGTERM)
            await peer.read_to_end()
            returncode = await peer.process.wait()
    assert returncode == 0
    (job,) = slow_sim.state.jobs()
    assert hand_off(peer.answers[1])["prediction_id"] == job.id
    with Ledger.open(Ledger.default_path(tmp_path / "state")) as ledger:
        record = ledger.get(job.id)
        assert record is not None and record.state == "processing"
