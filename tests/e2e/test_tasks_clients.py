"""MCP tasks through the official requester: `@modelcontextprotocol/ext-tasks` 0.2.2 over
the official TypeScript client 2.x (2026-07-28), driving the server as a subprocess over
stdio and streamable HTTP against the simulator. A text-only video and a video from a
local image as tasks, the status messages seen while they work, cancel, the cost
confirmation as `input_required`, a task followed from a new stdio server process and
from a second HTTP instance on the same ledger, a task unknown to another identity; every
task message on the wire checked against the extension's published JSON Schema."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from helpers import PNG, free_port, wait_until_answering
from installed_clients import CLIENTS
from task_schema import check
from wire import server_env

from atlas_mcp_py.simulator import SimulatorServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths of the installed clients"),
]

TOKEN = "tasks-clients-token-0123456789"
OTHER_TOKEN = "tasks-clients-other-token-987654"
TEXT_ONLY = {"prompt": "a lighthouse at dusk"}
FROM_IMAGE = {"prompt": "the lighthouse, waves", "image": "photo.png", "save_to": "out/v.mp4"}
SHAPES = {
    "tasks/get": "GetTaskResult",
    "tasks/update": "UpdateTaskResult",
    "tasks/cancel": "CancelTaskResult",
}


@pytest.fixture
def sim_job_seconds() -> float:
    return 1.5


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "photo.png").write_bytes(PNG)
    return root


def stdio_target(sim: SimulatorServer, root: Path, **extra: str) -> str:
    env = server_env(sim, root, **extra)
    target = {"command": sys.executable, "args": ["-m", "atlas_mcp_py"], "env": env}
    return json.dumps({**target, "cwd": str(root)})


async def requester(ext_tasks: Path, transport: str, target: str, **scenario: Any) -> Any:
    """Run ts_tasks_client.mjs once; its JSON output, every task message checked."""
    node = shutil.which("node") or "node"
    script = str(CLIENTS / "ts_tasks_client.mjs")
    command = [node, script, str(ext_tasks), transport, target, json.dumps(scenario)]
    with anyio.fail_after(120):
        done = await anyio.run_process(command, check=False)
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    out: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    out["checked"] = check_wire(out["wire"])
    return out


def check_wire(wire: list[dict[str, Any]]) -> list[str]:
    """Validate every task answer (and task request) against the published schema: the
    names of the definitions checked, in order."""
    methods: dict[Any, str] = {}
    checked: list[str] = []
    for entry in wire:
        message = entry["message"]
        if entry["direction"] == "out" and "method" in message:
            methods[message.get("id")] = message["method"]
            if message["method"] == "tasks/get":
                check("GetTaskRequest", message)
                checked.append("GetTaskRequest")
            continue
        if entry["direction"] != "in" or "result" not in message:
            continue
        method = methods.get(message["id"])
        if method == "tools/call" and message["result"].get("resultType") == "task":
            check("CreateTaskResult", message["result"])
            checked.append("CreateTaskResult")
        elif method in SHAPES:
            check(SHAPES[method], message["result"])
            checked.append(SHAPES[method])
    return checked


def assert_video_task(
    out: dict[str, Any], sim: SimulatorServer, *, seen_working: bool = True
) -> dict[str, Any]:
    """A task that worked with readable status messages and completed with a video
    (`seen_working`: a poll saw it working; one after a 2 s pause may not)."""
    assert out.get("error") is None, out.get("error")
    assert out["kind"] == "task" and out["outcome"] == "completed"
    working = [view for view in out["views"] if view["status"] == "working"]
    assert working or not seen_working, out["views"]
    assert all(view["statusMessage"].startswith("Atlas: ") for view in working)
    assert all(view["pollIntervalMs"] > 0 for view in working)
    assert {"GetTaskRequest", "GetTaskResult"} <= set(out["checked"])
    assert "CreateTaskResult" in out["checked"] or out["created"] is None
    result: dict[str, Any] = out["result"]
    assert result["isError"] is False
    data: dict[str, Any] = result["structuredContent"]
    assert data["status"] == "completed" and data["video_url"].startswith(sim.base_url)
    return data


async def test_text_and_image_videos_as_tasks_over_stdio(
    ext_tasks: Path, sim: SimulatorServer, project: Path
) -> None:
    target = stdio_target(sim, project)
    text = await requester(
        ext_tasks,
        "stdio",
        target,
        tool="atlas_generate_video",
        arguments=TEXT_ONLY,
        action="settle",
    )
    framed = await requester(
        ext_tasks,
        "stdio",
        target,
        tool="atlas_generate_video",
        arguments=FROM_IMAGE,
        action="settle",
    )
    assert_video_task(text, sim)
    data = assert_video_task(framed, sim)
    saved = project / "out" / "v.mp4"
    assert data["local_path"] == str(saved) and saved.stat().st_size > 0
    assert sim.state.count("generate") == 2 and sim.state.count("upload") == 1


async def test_cancel_over_stdio_says_atlas_cannot_cancel(
    ext_tasks: Path, sim: SimulatorServer, project: Path
) -> None:
    out = await requester(
        ext_tasks,
        "stdio",
        stdio_target(sim, project),
        tool="atlas_generate_video",
        arguments={"prompt": "a fox [sim:never]"},
        action="cancel",
    )
    assert out.get("error") is None, out.get("error")
    assert out["after"]["status"] == "cancelled"
    assert "no cancel endpoint" in out["after"]["statusMessage"]
    assert "atlas_list_jobs" in out["after"]["statusMessage"]
    assert "CancelTaskResult" in out["checked"]
    assert sim.state.count("generate") == 1


@pytest.mark.parametrize("approve", [True, False])
async def test_the_cost_is_confirmed_inside_the_task_before_anything_is_billed(
    ext_tasks: Path, sim: SimulatorServer, project: Path, approve: bool
) -> None:
    target = stdio_target(sim, project, ATLAS_MCP_CONFIRM_ABOVE_USD="0.03")
    out = await requester(
        ext_tasks,
        "stdio",
        target,
        tool="atlas_generate_video",
        arguments=TEXT_ONLY,
        action="settle",
        approve=approve,
    )
    assert out.get("error") is None, out.get("error")
    (asked,) = out["asked"]
    assert asked["kind"] == "elicitation" and "$0.20" in asked["params"]["message"]
    assert out["views"][0]["status"] == "input_required"
    assert "UpdateTaskResult" in out["checked"]
    if approve:
        assert_video_task(out, sim, seen_working=False)
        assert sim.state.count("generate") == 1
    else:
        assert out["outcome"] == "cancelled"
        assert sim.state.count("generate") == 0


async def test_a_new_stdio_server_process_follows_the_task_to_its_end(
    ext_tasks: Path, sim: SimulatorServer, project: Path
) -> None:
    target = stdio_target(sim, project)
    running = {"prompt": "a fox [sim:never]", "save_to": "out/fox.mp4"}
    created = await requester(
        ext_tasks,
        "stdio",
        target,
        tool="atlas_generate_video",
        arguments=running,
        action="create",
    )
    assert created["kind"] == "task"  # the requester and its server process are gone
    (pid,) = sim.state.predictions
    assert sim.state.predictions[pid].status != "completed"
    sim.state.complete(pid)  # the job ends while no server runs
    resumed = await requester(
        ext_tasks, "stdio", target, action="resume", reference=created["reference"]
    )
    data = assert_video_task(resumed, sim, seen_working=False)
    assert data["prediction_id"] == pid
    assert data["local_path"] == str(project / "out" / "fox.mp4")  # saved by the new process
    assert sim.state.count("generate") == 1


async def http_server(sim: SimulatorServer, root: Path, token: str) -> tuple[Process, str]:
    port = free_port()
    env = server_env(sim, root, ATLAS_MCP_HTTP_TOKEN=token, HOME=str(root.parent))
    command = [sys.executable, "-m", "atlas_mcp_py", "serve", "--transport", "http"]
    process = await anyio.open_process(
        [*command, "--port", str(port)], env=env, cwd=root, stdout=None, stderr=None
    )
    base = f"http://127.0.0.1:{port}"
    await wait_until_answering(f"{base}/healthz", process, 60)
    return process, f"{base}/mcp"


async def test_over_http_a_second_instance_on_the_same_ledger_answers_the_task(
    ext_tasks: Path, sim: SimulatorServer, project: Path
) -> None:
    first, first_url = await http_server(sim, project, TOKEN)
    second, second_url = await http_server(sim, project, TOKEN)
    other, other_url = await http_server(sim, project, OTHER_TOKEN)
    async with first, second, other:
        try:
            at_first = json.dumps({"url": first_url, "token": TOKEN})
            text = await requester(
                ext_tasks,
                "http",
                at_first,
                tool="atlas_generate_video",
                arguments=TEXT_ONLY,
                action="settle",
            )
            created = await requester(
                ext_tasks,
                "http",
                at_first,
                tool="atlas_generate_video",
                arguments=FROM_IMAGE,
                action="create",
            )
            at_second = json.dumps({"url": second_url, "token": TOKEN})
            resumed = await requester(
                ext_tasks, "http", at_second, action="resume", reference=created["reference"]
            )
            at_other = json.dumps({"url": other_url, "token": OTHER_TOKEN})
            stranger = await requester(
                ext_tasks, "http", at_other, action="resume", reference=created["reference"]
            )
        finally:
            for process in (first, second, other):
                process.terminate()
    assert_video_task(text, sim)
    assert resumed.get("error") is None, resumed.get("error")
    assert resumed["outcome"] == "completed"
    assert resumed["result"]["structuredContent"]["local_path"].endswith("out/v.mp4")
    assert "not found" in (stranger.get("error") or "").lower(), stranger
    assert sim.state.count("generate") == 2
