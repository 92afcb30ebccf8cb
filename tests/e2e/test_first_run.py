"""The first five minutes: `atlas-mcp demo`, `atlas-mcp doctor`, the configs a newcomer
pastes and the README's two commands, each run the way a newcomer runs them."""

from __future__ import annotations

import importlib.util
import json
import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from atlas_mcp_py.doctor import KEY_PLACEHOLDER, client_config
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.launch import UVX_ARGS
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DEMO_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/atlas-mcp demo"
TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest -q"
)
RUN_TIMEOUT = 120


def newcomer_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A shell's environment with none of our variables, no forced colours, and a home
    (and XDG state dir) of its own, so nothing can touch the real user's files."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ATLAS", "FORCE_COLOR", "TTY_", "NO_COLOR", "COLUMNS"))
    }
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), XDG_STATE_HOME=str(home / ".local" / "state"))
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atlas_mcp_py", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def is_mp4(path: Path) -> bool:
    head = path.read_bytes()[:12]
    return len(head) == 12 and head[4:8] == b"ftyp"


# -- atlas-mcp demo ---------------------------------------------------------------------


def test_the_demo_makes_saves_and_reports_a_video_without_touching_the_users_key_or_ledger(
    tmp_path: Path,
) -> None:
    """A key, a base URL and a state dir in the user's shell are ignored without --live:
    the base URL is unreachable, so using it would fail the run."""
    user_state = tmp_path / "user-state"
    env = newcomer_env(
        tmp_path,
        ATLASCLOUD_API_KEY="users-real-key-0123456789",
        ATLASCLOUD_BASE_URL="http://127.0.0.1:9",
        ATLAS_MCP_STATE_DIR=str(user_state),
    )
    target = tmp_path / "renders" / "first.mp4"
    done = run_cli(["demo", "--save-to", str(target), "--job-seconds", "1"], env, tmp_path)

    assert done.returncode == 0, done.stderr + done.stdout
    assert is_mp4(target)
    out = done.stdout
    assert f"Saved to:   {target}" in out
    assert re.search(r"Video URL:  http://127\.0\.0\.1:\d+/", out)
    assert "Atlas: completed" in out  # progress, as plain lines
    assert "\x1b" not in out  # not a terminal: no escape codes
    assert "users-real-key" not in out + done.stderr
    assert not user_state.exists()
    assert not (tmp_path / "home" / ".local" / "state" / "atlas-mcp-py").exists()


def test_the_demo_from_text_generates_a_still_then_animates_it_with_progress(
    tmp_path: Path,
) -> None:
    env = newcomer_env(tmp_path)
    target = tmp_path / "renders" / "mug.mp4"
    args = ["demo", "--from-text", "a mug on a desk", "--save-to", str(target)]
    done = run_cli([*args, "--job-seconds", "1"], env, tmp_path)

    assert done.returncode == 0, done.stderr + done.stdout
    out = done.stdout
    still = tmp_path / "renders" / "atlas-demo-still.png"
    assert still.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert is_mp4(target)
    assert 'first frame from text: "a mug on a desk"' in out
    assert f"Still saved to {still}" in out
    # both jobs report progress, the still's before the video's
    first, second = out.split("Generating: ", 1)
    assert "Atlas: completed" in first and "Atlas: completed" in second
    assert f"Saved to:   {target}" in out
    assert "Uploaded" not in out  # the still goes to the video tool as a local path


def test_the_demo_refuses_an_image_and_from_text_together(tmp_path: Path) -> None:
    image = tmp_path / "frame.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    done = run_cli(["demo", "--from-text", "--image", str(image)], newcomer_env(tmp_path), tmp_path)
    assert done.returncode == 2
    assert "drop --image" in done.stderr


def test_the_demo_draws_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    env = newcomer_env(tmp_path, COLUMNS="100", LINES="30", TERM="xterm-256color")
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "atlas_mcp_py", "demo", "--job-seconds", "2"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        cwd=tmp_path,
    )
    os.close(terminal)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], RUN_TIMEOUT)
            assert ready, "the demo went silent"
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the demo ended and closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
    assert proc.wait(timeout=RUN_TIMEOUT) == 0, output.decode(errors="replace")
    text = output.decode(errors="replace")
    assert "\x1b[" in text  # drawn in place, with escape codes
    assert "Generating" in text and "━" in text and "100%" in text
    assert is_mp4(tmp_path / "atlas-demo.mp4")  # the default destination


def test_a_live_demo_says_it_costs_money_then_runs_against_the_configured_api(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """--live with a key and a base URL (the simulator stands in for Atlas) and the user's
    own image. The job is billed there, so it goes into the user's own ledger."""
    state = tmp_path / "user-state"
    env = newcomer_env(
        tmp_path,
        ATLASCLOUD_API_KEY=SIMULATOR_API_KEY,
        ATLASCLOUD_BASE_URL=sim.base_url,
        ATLAS_MCP_STATE_DIR=str(state),
    )
    photos = tmp_path / "photos"  # the user's own image, outside the save directory
    photos.mkdir()
    shutil.copyfile(REPO / "atlas_mcp_py" / "assets" / "product.png", photos / "mine.png")
    target = tmp_path / "out" / "live.mp4"
    args = ["--live", "--yes", "--image", str(photos / "mine.png"), "--save-to", str(target)]
    done = run_cli(["demo", *args], env, tmp_path)

    assert done.returncode == 0, done.stderr + done.stdout
    out = done.stdout
    assert "Uploaded mine.png" in out
    assert out.index("costs money") < out.index("Estimated cost: about $0.10") < out.index("Saved")
    assert is_mp4(target)
    assert sim.state.count("generate") == 1
    (job,) = sim.state.predictions.values()  # the image-to-video default, nothing it lacks
    assert job.model == "minimax/hailuo-02/fast"
    assert set(job.params) == {"prompt", "image", "duration"}
    with Ledger.open(Ledger.default_path(state)) as ledger:
        assert ledger.count() == 1


# -- the server's start-up ----------------------------------------------------------------


def test_serving_over_stdio_never_loads_rich(tmp_path: Path) -> None:
    """rich is installed (the demo's bar) but the server must not pay for importing it:
    start the stdio server the way an IDE does, end its input, read what it imported."""
    assert importlib.util.find_spec("rich") is not None, "rich is a dependency"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "atlas_mcp_py"],
        env=newcomer_env(tmp_path, ATLAS_MCP_STATE_DIR=str(tmp_path / "state")),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "mcp.server.mcpserver.server" in imported  # the server was built
    assert [m for m in imported if m == "rich" or m.startswith("rich.")] == []


# -- atlas-mcp doctor -----------------------------------------------------------------------


def doctor_env(sim: SimulatorServer, tmp_path: Path, key: str) -> dict[str, str]:
    roots = tmp_path / "project"
    roots.mkdir(exist_ok=True)
    return newcomer_env(
        tmp_path,
        ATLASCLOUD_API_KEY=key,
        ATLASCLOUD_BASE_URL=sim.base_url,
        ATLAS_MCP_ROOTS=str(roots),
        ATLAS_MCP_STATE_DIR=str(tmp_path / "state"),
    )


def check_lines(output: str) -> dict[str, str]:
    """{check name: its status} from doctor's output."""
    found = re.findall(r"^(OK|WARN|FAIL) +([^:]+):", output, flags=re.MULTILINE)
    return {name: status for status, name in found}


def printed_config(output: str) -> dict[str, Any]:
    start = output.index("{\n")
    end = output.index("\n}\n", start) + 2
    config: dict[str, Any] = json.loads(output[start:end])
    return config


def test_doctor_against_a_working_setup_passes_every_check_and_prints_the_config(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    done = run_cli(["doctor"], doctor_env(sim, tmp_path, SIMULATOR_API_KEY), tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    checks = check_lines(done.stdout)
    assert set(checks) >= {
        "mcp SDK",
        "API key",
        "Atlas API",
        "API key accepted",
        "allowed roots",
        "job ledger",
    }
    assert set(checks.values()) == {"OK"}
    assert "balance $100.00 available" in done.stdout  # the free balance endpoint
    assert "All required checks passed." in done.stdout
    assert SIMULATOR_API_KEY not in done.stdout + done.stderr
    server = printed_config(done.stdout)["mcpServers"]["atlas"]
    assert Path(server["command"]).is_absolute() and Path(server["command"]).exists()
    assert server["env"]["ATLASCLOUD_API_KEY"] == KEY_PLACEHOLDER


def test_doctor_with_a_wrong_key_fails_the_key_check_with_a_fix_and_never_shows_the_key(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    wrong = "wrong-key-5f2c9a7e"
    done = run_cli(["doctor"], doctor_env(sim, tmp_path, wrong), tmp_path)

    assert done.returncode == 1
    checks = check_lines(done.stdout)
    assert checks["API key accepted"] == "FAIL"
    assert checks["Atlas API"] == "OK"
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("FAIL  API key accepted"))
    assert lines[at + 1].strip().startswith("fix: copy the key again")
    assert wrong not in done.stdout + done.stderr
    assert wrong[:8] not in done.stdout + done.stderr  # not even a prefix


def test_doctor_without_a_key_fails_and_says_how_to_set_one(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    env = doctor_env(sim, tmp_path, "")
    del env["ATLASCLOUD_API_KEY"]
    done = run_cli(["doctor"], env, tmp_path)
    assert done.returncode == 1
    assert check_lines(done.stdout)["API key"] == "FAIL"
    assert "ATLASCLOUD_API_KEY" in done.stdout and "env" in done.stdout


# -- the configs a newcomer pastes --------------------------------------------------------


async def assert_config_serves(
    server: dict[str, Any], sim: SimulatorServer, tmp_path: Path
) -> None:
    """Start the server exactly as `server` (an mcpServers entry) says, with the key and
    base URL filled in, and use it through the SDK's stdio client."""
    command = server["command"]
    if not os.path.isabs(command):  # what the IDE finds on PATH: this installation's
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        command = shutil.which(command, path=path)
        assert command, f"{server['command']} is not installed next to {sys.executable}"
    env = dict(server.get("env", {}))
    env.update(
        ATLASCLOUD_API_KEY=SIMULATOR_API_KEY,
        ATLASCLOUD_BASE_URL=sim.base_url,
        ATLAS_MCP_STATE_DIR=str(tmp_path / "state"),
    )
    params = StdioServerParameters(
        command=command, args=server.get("args", []), env=env, cwd=str(tmp_path)
    )
    with anyio.fail_after(60):
        async with Client(params) as client:
            tools = await client.list_tools()
            models = await client.call_tool("atlas_list_models", {})
    assert "atlas_generate_video" in {t.name for t in tools.tools}
    assert not models.is_error
    assert (models.structured_content or {}).get("total", 0) > 0


@pytest.mark.anyio
async def test_the_example_config_file_starts_a_working_server(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    config = json.loads((REPO / "mcp-config.example.json").read_text())
    server = config["mcpServers"]["atlas"]
    assert server["command"] == "atlas-mcp"
    assert set(server["env"]) >= {"ATLASCLOUD_API_KEY"}
    await assert_config_serves(server, sim, tmp_path)


@pytest.mark.anyio
async def test_the_config_doctor_prints_starts_a_working_server(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    config = client_config({"ATLASCLOUD_API_KEY": "must-not-appear"})
    assert "must-not-appear" not in json.dumps(config)
    await assert_config_serves(config["mcpServers"]["atlas"], sim, tmp_path)


def readme_json_blocks() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_every_client_config_in_the_readme_is_valid_json_that_runs_atlas_mcp() -> None:
    """Each runs the installed command or uvx with the PyPI name (never `uvx atlas-mcp`,
    an unrelated project's package)."""
    entries: list[dict[str, Any]] = []
    for block in readme_json_blocks():
        servers = block.get("mcpServers") or block.get("servers") or {}
        entries.extend(servers.values())
    stdio = [e for e in entries if "url" not in e]
    assert len(stdio) >= 5  # uvx: mcpServers, VS Code; installed: Cursor, VS Code, Desktop
    assert sum(e["command"] == "uvx" for e in stdio) >= 2
    for entry in stdio:
        if entry["command"] == "uvx":
            assert entry["args"] == list(UVX_ARGS) == ["--from", "atlas-mcp-py", "atlas-mcp"]
        else:
            assert entry["command"] == "atlas-mcp", entry
        assert "ATLASCLOUD_API_KEY" in entry.get("env", {}), entry


def test_the_readmes_first_screen_shows_the_uvx_line_and_the_configs_built_on_it() -> None:
    first_screen = "\n".join(README.read_text().splitlines()[:60])
    uvx = shlex.join(["uvx", *UVX_ARGS])
    assert f"claude mcp add atlas --env ATLASCLOUD_API_KEY=your-key -- {uvx}" in first_screen
    blocks = re.findall(r"```json\n(.*?)```", first_screen, flags=re.DOTALL)
    configs = [json.loads(b) for b in blocks]
    assert {"mcpServers", "servers"} <= {key for c in configs for key in c}
    for config in configs:
        for server in (config.get("mcpServers") or config["servers"]).values():
            assert [server["command"], *server["args"]] == shlex.split(uvx)
    assert "pipx install atlas-mcp-py" in first_screen
    assert "pip install atlas-mcp-py" in first_screen


def test_the_vs_code_config_in_the_readme_uses_the_servers_key() -> None:
    vscode = [b for b in readme_json_blocks() if "servers" in b]
    assert vscode and all("mcpServers" not in b for b in vscode)
    assert all(s.get("type") == "stdio" for b in vscode for s in b["servers"].values())


# -- the README's two commands ----------------------------------------------------------


def test_the_readme_quick_start_has_the_two_commands_and_ci_runs_the_same_tests() -> None:
    readme = README.read_text()
    quick_start = readme[readme.index("## Quick start") :]
    quick_start = quick_start[: quick_start.index("\n## ", 1)]
    commands = re.findall(r"```sh\n(.*?)\n```", quick_start, flags=re.DOTALL)
    assert commands[:2] == [DEMO_COMMAND, TEST_COMMAND]

    ci = (REPO / ".ci" / "run").read_text()
    ci_lines = [shlex.split(line) for line in ci.splitlines() if line and line[0] != "#"]
    # The README calls the venv's programs by path; CI activates the venv first.
    readme_test = shlex.split(TEST_COMMAND.split("&&")[-1])
    assert readme_test == [".venv/bin/python", "-m", "pytest", "-q"]
    assert ["python", "-m", "pytest", "-q"] in ci_lines
    assert ". .venv/bin/activate" in ci.splitlines()
    readme_install = shlex.split(TEST_COMMAND.split("&&")[1])
    assert readme_install == [".venv/bin/pip", "install", "-e", ".[test]"]
    assert any(line[-2:] == ["-e", ".[test]"] and "install" in line for line in ci_lines)
