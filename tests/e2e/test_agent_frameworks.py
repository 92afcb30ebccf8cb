"""Agent frameworks, as a new user sets them up (default settings), make a text-only video
and a video from a local image against the simulator, over stdio and (where the framework
has it) streamable HTTP. Each is driven the way its agent drives the server: its own
agent with a scripted model where the framework has one (pydantic-ai's `FunctionModel`,
LlamaIndex's `MockFunctionCallingLLM`, a `Model`, `BaseLlm` or LangChain chat model of
the script's own), otherwise the framework's own tool objects, called as its agent calls
them. Each run records how many
tool calls the agent needed (in the JUnit properties and `.test-cache/frameworks/runs.json`;
README's client table quotes them).

The frameworks are installed by the test run into `.test-cache/frameworks/`
(tests/agent_frameworks.py); the client scripts are tests/clients/*_agent.py.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from agent_frameworks import CACHE, framework_pythons  # noqa: F401  (fixture)
from helpers import PNG
from installed_clients import CLIENTS
from test_real_clients import TOKEN, http_server, stdio_target

from atlas_mcp_py.simulator import SimulatorServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths of the installed clients"),
]

FRAMEWORKS = {
    # script: (venv, transports)
    "pydantic_ai_agent.py@mcp1": ("mcp1", ("stdio", "http")),
    "pydantic_ai_agent.py@mcp2": ("mcp2", ("stdio", "http")),
    "openai_agents_agent.py": ("mcp2", ("stdio", "http")),
    "langchain_agent.py": ("mcp1", ("stdio", "http")),
    "fastmcp_agent.py@mcp1": ("mcp1", ("stdio", "http")),
    "fastmcp_agent.py@mcp2": ("mcp2", ("stdio", "http")),
    "mcp_use_agent.py": ("mcp1", ("stdio", "http")),
    "smolagents_agent.py": ("mcp1", ("stdio",)),
    "llamaindex_agent.py": ("mcp2", ("stdio", "http")),
    "google_adk_agent.py": ("adk", ("stdio", "http")),
}
RUNS = CACHE / "runs.json"
CASES = [
    pytest.param(name, transport, id=f"{name.replace('_agent.py', '')}-{transport}")
    for name, (_, transports) in FRAMEWORKS.items()
    for transport in transports
]


@pytest.fixture
def sim_job_seconds() -> float:
    return 1.0


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "photo.png").write_bytes(PNG)
    return root


async def run_script(python_env: dict[str, str], script: str, *args: str) -> dict[str, Any]:
    env = dict(python_env)
    python = env.pop("python")
    with anyio.fail_after(240):
        done = await anyio.run_process([python, str(CLIENTS / script), *args], env=env, check=False)
    assert done.returncode == 0, done.stderr.decode()[-6000:]
    lines = done.stdout.decode().strip().splitlines()
    assert lines, done.stderr.decode()[-6000:]
    parsed: dict[str, Any] = json.loads(lines[-1])
    return parsed


def record(key: str, out: dict[str, Any]) -> None:
    """Keep the run in `.test-cache/frameworks/runs.json` (what README's table quotes)."""
    runs = json.loads(RUNS.read_text()) if RUNS.exists() else {}
    runs[key] = {"tool_calls": out["tool_calls"], "mcp": out.get("mcp")}
    RUNS.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")


def assert_both_videos_made(out: dict[str, Any], root: Path, sim: SimulatorServer) -> None:
    for video, name in (("text", "text.mp4"), ("image", "image.mp4")):
        made = out["videos"][video]
        assert made["calls"][0] == "atlas_generate_video", made
        assert "Video ready" in " ".join(made["last"]), made
        assert (root / "out" / name).stat().st_size > 0, made
    assert sim.state.count("generate") == 2  # each paid once
    (image_job,) = [p for p in sim.state.predictions.values() if "image" in p.params]
    assert image_job.params["image"].startswith(sim.base_url)  # the local file uploaded


@pytest.mark.parametrize(("name", "transport"), CASES)
async def test_the_framework_makes_both_videos_with_its_default_settings(
    framework_pythons: dict[str, dict[str, str]],  # noqa: F811
    sim: SimulatorServer,
    project: Path,
    name: str,
    transport: str,
    record_property: Callable[[str, object], None],
) -> None:
    venv, _ = FRAMEWORKS[name]
    script = name.split("@")[0]
    if transport == "stdio":
        out = await run_script(
            framework_pythons[venv], script, "stdio", json.dumps(stdio_target(sim, project))
        )
    else:
        process, url = await http_server(sim, project)
        async with process:
            try:
                target = json.dumps({"url": url, "token": TOKEN})
                out = await run_script(framework_pythons[venv], script, "http", target)
            finally:
                process.terminate()
    calls = {video: made["tool_calls"] for video, made in out["videos"].items()}
    record_property("tool_calls", calls)
    record(f"{name.split('@')[0]}:{out['version']}:{transport}", {**out, "tool_calls": calls})
    assert_both_videos_made(out, project, sim)
    for check in out.get("checks", []):
        assert check["ok"], check


SHORT_LIMITS = {
    # script: (venv, the framework's default time limit of a call over stdio)
    "openai_agents_agent.py": ("mcp2", "client_session_timeout_seconds"),
    "google_adk_agent.py": ("adk", "StdioConnectionParams.timeout"),
}


@pytest.mark.parametrize("sim_job_seconds", [8.0])
@pytest.mark.parametrize("script", list(SHORT_LIMITS))
async def test_a_framework_gets_a_video_that_outlasts_its_5_s_call_limit(
    framework_pythons: dict[str, dict[str, str]],  # noqa: F811
    sim: SimulatorServer,
    project: Path,
    script: str,
    record_property: Callable[[str, object], None],
) -> None:
    """The OpenAI Agents SDK's `client_session_timeout_seconds` and Google ADK's
    `StdioConnectionParams.timeout` are 5 s by default (each request's time limit) and
    neither sends a progress token: the first generate call is abandoned (the agent is
    told of the failure and tries again), which tells the server the limit; the retry is
    the same job (the duplicate guard: paid once), answered within the limit, and every
    later call too (the second video's included), atlas_check_status finishing what the
    generate call hands back."""
    venv, _ = SHORT_LIMITS[script]
    target = json.dumps(stdio_target(sim, project))
    out = await run_script(framework_pythons[venv], script, "stdio", target)
    calls = {video: made["tool_calls"] for video, made in out["videos"].items()}
    record_property("tool_calls", calls)
    record(f"{script}:{out['version']}:stdio:8s-jobs", {**out, "tool_calls": calls})
    assert_both_videos_made(out, project, sim)
    assert all(n <= 10 for n in calls.values())  # within the agents' default turn limits
    abandoned = [made["abandoned"] for made in out["videos"].values()]
    assert abandoned == [1, 0], out  # the first call taught the server the limit


@pytest.mark.parametrize("sim_job_seconds", [31.0])
async def test_llamaindex_gets_a_video_that_outlasts_its_30_s_call_limit(
    framework_pythons: dict[str, dict[str, str]],  # noqa: F811
    sim: SimulatorServer,
    project: Path,
    record_property: Callable[[str, object], None],
) -> None:
    """LlamaIndex's `BasicMCPClient` gives up on a call after 30 s (its default
    `timeout`) and opens a new session for every call (over stdio a new server), so the
    server cannot learn that limit from a cancelled call: a wait without a progress token
    ends at 25 s with the job's id, and atlas_check_status finishes it. (With the earlier
    45 s wait, every generate call of a job over 30 s failed, video paid and not given.)
    The text video only: a second 31 s job would tell nothing more."""
    target = json.dumps(stdio_target(sim, project))
    python = {**framework_pythons["mcp2"], "AGENT_VIDEOS": "text"}
    out = await run_script(python, "llamaindex_agent.py", "stdio", target)
    made = out["videos"]["text"]
    record_property("tool_calls", made["tool_calls"])
    key = f"llamaindex_agent.py:{out['version']}:stdio:31s-jobs"
    record(key, {**out, "tool_calls": {"text": made["tool_calls"]}})
    assert made["calls"] == ["atlas_generate_video", "atlas_check_status"], made
    assert made["abandoned"] == 0 and "Video ready" in " ".join(made["last"]), made
    assert (project / "out" / "text.mp4").stat().st_size > 0
    assert sim.state.count("generate") == 1  # paid once
