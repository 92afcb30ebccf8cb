"""Tasks in the 2025-11-25 protocol's shape (its experimental task augmentation:
`params.task`, `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel`) through a
released client that speaks it: the TypeScript MCP SDK 1.x's `client.experimental.tasks`,
driving the server as a subprocess over stdio against the simulator. A text-only video
as a task to completion, its result equal to the blocking call's; cancel; the cost asked
by elicitation before anything is billed; every task message on the wire checked against
that protocol's published schema (tests/fixtures/mcp-2025-11-25-tasks-schema.json)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from helpers import free_port, wait_until_answering
from installed_clients import CLIENTS
from task_schema import check_2025
from wire import server_env

from atlas_mcp_py.simulator import SimulatorServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths of the installed clients"),
]

TOKEN = "tasks-2025-token-0123456789abcd"
OTHER_TOKEN = "tasks-2025-other-token-98765432"
TEXT_ONLY = {"prompt": "a lighthouse at dusk", "allow_duplicate": True}
SHAPES = {
    "tools/call": "CreateTaskResult",
    "tasks/get": "GetTaskResult",
    "tasks/result": "CallToolResult",
    "tasks/cancel": "CancelTaskResult",
    "tasks/list": "ListTasksResult",
}
REQUESTS = {
    "tools/call": "CallToolRequest",
    "tasks/get": "GetTaskRequest",
    "tasks/result": "GetTaskPayloadRequest",
    "tasks/cancel": "CancelTaskRequest",
    "tasks/list": "ListTasksRequest",
}


@pytest.fixture
def sim_job_seconds() -> float:
    return 1.5


async def client(sdk: Path, sim: SimulatorServer, root: Path, **scenario: Any) -> Any:
    """Run ts_legacy_tasks_client.mjs once (over stdio, or HTTP when `http` gives the URL
    and token); its JSON output, every task message checked."""
    env = server_env(sim, root, **scenario.pop("env", {}))
    target = {"command": sys.executable, "args": ["-m", "atlas_mcp_py"], "env": env}
    node = shutil.which("node") or "node"
    script = str(CLIENTS / "ts_legacy_tasks_client.mjs")
    http = scenario.pop("http", None)
    where = (
        ["http", json.dumps(http)] if http else ["stdio", json.dumps({**target, "cwd": str(root)})]
    )
    command = [node, script, str(sdk), *where]
    with anyio.fail_after(120):
        done = await anyio.run_process([*command, json.dumps(scenario)], check=False)
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    out: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    out["checked"] = check_wire(out["wire"])
    return out


def check_wire(wire: list[dict[str, Any]]) -> list[str]:
    """Validate every task request and answer against the 2025-11-25 schema: the names of
    the definitions checked, in order."""
    methods: dict[Any, str] = {}
    checked: list[str] = []
    for entry in wire:
        message = entry["message"]
        if entry["direction"] == "out" and message.get("method") in REQUESTS:
            methods[message.get("id")] = message["method"]
            if message["method"] != "tools/call" or "task" in message["params"]:
                check_2025(REQUESTS[message["method"]], message)
                checked.append(REQUESTS[message["method"]])
            continue
        if message.get("method") == "notifications/tasks/status":
            check_2025("TaskStatusNotification", message)
            checked.append("TaskStatusNotification")
            continue
        method = methods.get(message.get("id"))
        if entry["direction"] != "in" or "result" not in message or method not in SHAPES:
            continue
        if method == "tools/call" and "task" not in message["result"]:
            continue
        check_2025(SHAPES[method], message["result"])
        checked.append(SHAPES[method])
    return checked


def _comparable(result: dict[str, Any]) -> str:
    """A finished video's result (its `_meta` aside) with what differs between two jobs
    (ids, URLs, times) blanked."""
    data = result["structuredContent"]
    text = json.dumps({k: v for k, v in result.items() if k != "_meta"}, sort_keys=True)
    for output in data.get("outputs") or []:
        text = text.replace(output, "<output>")
    for key in ("video_url", "prediction_id"):
        text = text.replace(data[key], f"<{key}>")
    text = re.sub(r"\b[0-9a-f]{32}\b", "<id>", text)
    text = re.sub(r"\d+(\.\d+)? s\b", "N s", text)
    text = re.sub(r'"elapsed_seconds": [0-9.]+', '"elapsed_seconds": N', text)
    return re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", "<when>", text)


async def test_a_video_as_a_2025_task_ends_with_the_blocking_calls_result(
    ts_sdks: dict[str, Path], sim: SimulatorServer, tmp_path: Path
) -> None:
    sdk = ts_sdks["1"]
    out = await client(
        sdk, sim, tmp_path, tool="atlas_generate_video", arguments=TEXT_ONLY, action="settle"
    )
    assert out.get("error") is None, out.get("error")
    assert out["capabilities"]["tasks"] == {
        "list": {},
        "cancel": {},
        "requests": {"tools": {"call": {}}},
    }
    execution = {t["name"]: t.get("execution") for t in out["tools"]}
    assert execution["atlas_generate_video"] == {"taskSupport": "optional"}
    assert execution["atlas_list_models"] is None
    created = out["created"]
    assert created["status"] == "working" and created["ttl"] > 0
    working = [s for s in out["statuses"] if s["status"] == "working"]
    assert working and all(s["statusMessage"].startswith("Atlas: ") for s in working)
    assert out["statuses"][-1]["status"] == "completed"
    assert {"CreateTaskResult", "GetTaskResult", "CallToolResult", "ListTasksResult"} <= set(
        out["checked"]
    )
    assert [t["taskId"] for t in out["listed"]] == [created["taskId"]]
    (told,) = [
        e["message"]["params"]
        for e in out["wire"]
        if e["message"].get("method") == "notifications/tasks/status"
    ]
    assert told["taskId"] == created["taskId"] and told["status"] == "completed"
    result = out["result"]
    related = result["_meta"]["io.modelcontextprotocol/related-task"]
    assert related == {"taskId": created["taskId"]}
    blocking = await client(
        sdk, sim, tmp_path, tool="atlas_generate_video", arguments=TEXT_ONLY, action="blocking"
    )
    assert blocking.get("error") is None, blocking.get("error")
    assert (
        "_meta" not in blocking["result"]
        or "io.modelcontextprotocol/related-task" not in blocking["result"]["_meta"]
    )
    assert _comparable(result) == _comparable(blocking["result"])
    assert sim.state.count("generate") == 2


async def test_cancel_a_2025_task_says_atlas_cannot_cancel(
    ts_sdks: dict[str, Path], sim: SimulatorServer, tmp_path: Path
) -> None:
    never = {"prompt": "a fox [sim:never]"}
    out = await client(
        ts_sdks["1"], sim, tmp_path, tool="atlas_generate_video", arguments=never, action="cancel"
    )
    assert out.get("error") is None, out.get("error")
    assert out["cancelled"]["status"] == out["after"]["status"] == "cancelled"
    assert "no cancel endpoint" in out["after"]["statusMessage"]
    told = [
        e["message"] for e in out["wire"] if e["direction"] == "in" and "method" in e["message"]
    ]
    assert [t["params"]["status"] for t in told if t["method"] == "notifications/tasks/status"] == [
        "cancelled"
    ]
    assert {"CancelTaskRequest", "CancelTaskResult", "GetTaskResult"} <= set(out["checked"])
    assert sim.state.count("generate") == 1


@pytest.mark.parametrize("approve", [True, False])
async def test_the_cost_is_asked_before_the_task_exists_and_billed_only_after_yes(
    ts_sdks: dict[str, Path], sim: SimulatorServer, tmp_path: Path, approve: bool
) -> None:
    out = await client(
        ts_sdks["1"],
        sim,
        tmp_path,
        env={"ATLAS_MCP_CONFIRM_ABOVE_USD": "0.03"},
        tool="atlas_generate_video",
        arguments=TEXT_ONLY,
        action="settle",
        approve=approve,
    )
    assert out.get("error") is None, out.get("error")
    (asked,) = out["asked"]
    assert "$0.20" in asked["message"]
    assert out["statuses"][-1]["status"] == "completed"
    assert "CreateTaskResult" in out["checked"]
    if approve:
        assert out["created"]["status"] == "working"
        assert out["result"]["structuredContent"]["status"] == "completed"
        assert sim.state.count("generate") == 1
    else:  # the blocking call's answer, as a task that ended at once
        assert out["created"]["status"] == "completed"
        assert "so nothing was sent" in out["result"]["content"][0]["text"]
        assert sim.state.count("generate") == 0


async def test_a_client_without_the_tasks_capability_gets_no_task(
    ts_sdks: dict[str, Path], sim: SimulatorServer, tmp_path: Path
) -> None:
    """The spec: a request from a client that did not declare `tasks` is processed
    normally, its `params.task` ignored (the TS client then rejects the plain answer)."""
    out = await client(
        ts_sdks["1"],
        sim,
        tmp_path,
        tool="atlas_generate_video",
        arguments=TEXT_ONLY,
        action="settle",
        noTasks=True,
    )
    assert out.get("created") is None and "CreateTaskResult" not in out["checked"]
    answers = [
        e["message"] for e in out["wire"] if e["direction"] == "in" and "result" in e["message"]
    ]
    (called,) = [a for a in answers if "content" in a["result"]]
    assert called["result"]["structuredContent"]["status"] == "completed"
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


async def test_over_http_a_2025_task_is_its_creators_on_every_instance(
    ts_sdks: dict[str, Path], sim: SimulatorServer, tmp_path: Path
) -> None:
    """Created on one HTTP instance, its result fetched from a second one on the same
    ledger; the holder of another token is told the task is unknown and lists none."""
    sdk, root = ts_sdks["1"], tmp_path / "project"
    root.mkdir()
    first, first_url = await http_server(sim, root, TOKEN)
    second, second_url = await http_server(sim, root, TOKEN)
    other, other_url = await http_server(sim, root, OTHER_TOKEN)
    async with first, second, other:
        try:
            video = {"tool": "atlas_generate_video", "arguments": TEXT_ONLY}
            at = {"url": first_url, "token": TOKEN}
            created = await client(sdk, sim, root, http=at, action="create", **video)
            task_id = created["created"]["taskId"]
            at = {"url": second_url, "token": TOKEN}
            fetched = await client(sdk, sim, root, http=at, action="fetch", taskId=task_id)
            at = {"url": other_url, "token": OTHER_TOKEN}
            stranger = await client(sdk, sim, root, http=at, action="fetch", taskId=task_id)
        finally:
            for process in (first, second, other):
                process.terminate()
    assert created.get("error") is None, created.get("error")
    assert fetched.get("error") is None, fetched.get("error")
    assert fetched["got"]["taskId"] == task_id
    assert fetched["result"]["structuredContent"]["status"] == "completed"
    assert [t["taskId"] for t in fetched["listed"]] == [task_id]
    assert "not found" in (stranger.get("error") or "").lower(), stranger
    assert stranger["listed"] == []
    assert sim.state.count("generate") == 1
