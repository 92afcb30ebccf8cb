"""Job states and error meanings through the tools, against the simulator over loopback:
a finished job never goes back to running in the ledger, and a failed upload is not
reported as a possibly billed job."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.abc
import pytest
from helpers import pipe, simulator_settings, structured, tcp_server, text_of
from mcp import Client

from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import Fault, SimulatorServer

pytestmark = pytest.mark.anyio


async def test_a_late_processing_answer_never_undoes_a_completed_job_in_the_ledger(
    slow_sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    """Two windows (two servers, one ledger) check one job: window A's status answer
    ("processing") is held back until window B has seen and recorded "completed"."""
    state = tmp_path / "state"
    answered, release = anyio.Event(), anyio.Event()
    upstream_port = int(slow_sim.base_url.rsplit(":", 1)[1])

    async def held_relay(client: anyio.abc.SocketStream) -> None:
        upstream = await anyio.connect_tcp("127.0.0.1", upstream_port)
        async with client, upstream, anyio.create_task_group() as tg:
            tg.start_soon(pipe, client, upstream)
            first = await upstream.receive()
            answered.set()
            await release.wait()
            await client.send(first)
            await pipe(upstream, client)
            tg.cancel_scope.cancel()

    with anyio.fail_after(30):
        async with tcp_server(held_relay) as port:
            via_relay = simulator_settings(
                slow_sim, workspace, state_dir=state, base_url=f"http://127.0.0.1:{port}"
            )
            direct = simulator_settings(slow_sim, workspace, state_dir=state)
            async with (
                Client(build_server(via_relay)) as window_a,
                Client(build_server(direct)) as window_b,
            ):
                started = await window_b.call_tool(
                    "atlas_generate_video", {"prompt": "a lighthouse", "wait": False}
                )
                job_id = structured(started)["prediction_id"]
                late = {}

                async def check_in_a() -> None:
                    late["result"] = await window_a.call_tool(
                        "atlas_check_status", {"prediction_id": job_id}
                    )

                async with anyio.create_task_group() as tg:
                    tg.start_soon(check_in_a)
                    await answered.wait()  # A's answer, "processing", is on its way
                    slow_sim.state.complete(job_id)
                    done = await window_b.call_tool("atlas_check_status", {"prediction_id": job_id})
                    assert structured(done)["status"] == "completed"
                    release.set()
                listed = await window_b.call_tool("atlas_list_jobs", {})
    # A's answer says "processing", but the ledger already holds "completed": a job seen
    # completed stays completed (issue 21), with the outputs B saw
    assert structured(late["result"])["status"] == "completed"
    assert "seen completed" in text_of(late["result"])
    with Ledger.open(Ledger.default_path(state)) as ledger:
        row = ledger.get(job_id)
    assert row is not None
    assert (row.state, row.outputs) == ("completed", structured(done)["outputs"])
    (job,) = structured(listed)["jobs"]
    assert job["status"] == "completed" and job["video_url"]


async def test_a_lost_upload_answer_says_nothing_was_billed_and_calling_again_is_safe(
    sim: SimulatorServer, workspace: Path
) -> None:
    sim.state.add_faults([Fault(endpoint="upload", kind="drop", times=2)])
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        upload = await client.call_tool("atlas_upload_media", {"path": "photo.png"})
        generate = await client.call_tool(
            "atlas_generate_video", {"prompt": "a cat", "image": "photo.png"}
        )
        again = await client.call_tool("atlas_upload_media", {"path": "photo.png"})
    for result in (upload, generate):
        text = text_of(result)
        assert result.is_error
        assert "nothing was billed" in text and "calling again is safe" in text
        assert "may be billed" not in text and "Do not simply call again" not in text
    assert sim.state.count("generate") == 0
    assert not again.is_error  # and it was: the next upload went through
