"""Text from Atlas is cleaned before it is logged, stored or returned, the server run as
an IDE runs it (a stdio subprocess) against the simulator.

- A failed job whose error quotes the request's `Authorization` header (as is, or cut
  short after `Bearer`) shows the key nowhere: not in a tool result, not on stdout or
  stderr (at DEBUG), not in the ledger file.
- A lone surrogate in a job's error (half an emoji) neither crashes the ledger write nor
  the stdio writer: the answer arrives, with its prediction id, and the text shows U+FFFD.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from stdio_session import StdioSession, stdio_session

from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer

pytestmark = pytest.mark.anyio


def env_for(sim: SimulatorServer, root: Path, state: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(root),
        "ATLASCLOUD_API_KEY": SIMULATOR_API_KEY,
        "ATLASCLOUD_BASE_URL": sim.base_url,
        "ATLAS_MCP_ROOTS": str(root),
        "ATLAS_MCP_STATE_DIR": str(state),
        "ATLAS_MCP_POLL_MIN": "0.05",
        "ATLAS_MCP_POLL_MAX": "0.1",
        "ATLAS_MCP_LOG_LEVEL": "DEBUG",
    }


async def generate_failing_with(
    session: StdioSession, sim: SimulatorServer, prompt: str, error: str
) -> dict[str, Any]:
    """A generate call that waits on a job the simulator then fails with `error`."""
    result: dict[str, Any] = {}
    before = set(sim.state.predictions)

    async def generate() -> None:
        arguments = {"prompt": f"{prompt} [sim:never]"}
        result.update(await session.call("atlas_generate_video", arguments))

    async with anyio.create_task_group() as tg:
        tg.start_soon(generate)
        while True:  # callers bound this with fail_after
            new = set(sim.state.predictions) - before
            if new:
                break
            await anyio.sleep(0.02)
        (job_id,) = new
        sim.state.fail(job_id, error=error)
    return result


def ledger_bytes(state: Path) -> bytes:
    return b"".join(
        path.read_bytes() for path in state.iterdir() if path.name.startswith("jobs.sqlite3")
    )


async def test_an_error_quoting_the_authorization_header_shows_the_key_nowhere(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    key = SIMULATOR_API_KEY
    echo = (
        f"upstream rejected {{'Authorization': 'Bearer {key}', 'X-Key': '{key}'}}; "
        f"retried with bearer {key[:9]}"
    )
    with anyio.fail_after(60):
        async with stdio_session(env_for(sim, tmp_path, state), tmp_path) as session:
            failed = await generate_failing_with(session, sim, "a kite", echo)
            job_id = failed["structuredContent"]["prediction_id"]
            checked = await session.call("atlas_check_status", {"prediction_id": job_id})
            listed = await session.call("atlas_list_jobs", {})
            resource = await session.request("resources/read", {"uri": f"atlas://jobs/{job_id}"})
    for shown in (failed, checked):
        assert shown["structuredContent"]["status"] == "failed"
        assert "Authorization': 'Bearer [redacted]'" in shown["structuredContent"]["error"]
    shown_text = json.dumps([failed, checked, listed, resource])
    assert "[redacted]" in json.dumps(listed) and "[redacted]" in json.dumps(resource)
    for where, text in (
        ("results", shown_text.encode()),
        ("stdout", bytes(session.stdout)),
        ("stderr", bytes(session.stderr)),
        ("ledger", ledger_bytes(state)),
    ):
        assert key.encode() not in text, where
        assert key[:9].encode() not in text, where
    assert b"DEBUG" in session.stderr


async def test_a_lone_surrogate_in_upstream_text_loses_neither_the_answer_nor_the_id(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    with anyio.fail_after(60):
        async with stdio_session(env_for(sim, tmp_path, state), tmp_path) as session:
            failed = await generate_failing_with(
                session, sim, "a rocket", "the model gave up \ud83d (cut)"
            )
            job_id = failed["structuredContent"]["prediction_id"]
            checked = await session.call("atlas_check_status", {"prediction_id": job_id})
            listed = await session.call("atlas_list_jobs", {})
    assert job_id in sim.state.predictions
    for shown in (failed, checked):
        assert shown["structuredContent"]["prediction_id"] == job_id
        assert shown["structuredContent"]["error"] == "the model gave up \ufffd (cut)"
    (job,) = listed["structuredContent"]["jobs"]
    assert (job["prediction_id"], job["status"]) == (job_id, "failed")
    assert not any(n.startswith("Warning") for n in failed["structuredContent"]["notes"])
    bytes(session.stdout).decode("utf-8")  # all of it valid UTF-8
    assert b"Traceback" not in session.stderr
    with Ledger.open(Ledger.default_path(state)) as ledger:
        row = ledger.get(job_id)
    assert row is not None and row.error == "the model gave up \ufffd (cut)"
