"""`atlas-mcp doctor` run the way each installation starts it prints a config that keeps
working for that installation (tests/unit/test_launch.py covers every kind with made-up
prefixes; tests/e2e/test_release.py runs it under a real uvx)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any


def make_script(path: Path, body: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def run_doctor(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS", "UV"))}
    env.update(
        ATLASCLOUD_BASE_URL="http://127.0.0.1:9",
        ATLAS_MCP_STATE_DIR=str(tmp_path / "state"),
        **extra,
    )
    return subprocess.run(
        [sys.executable, "-m", "atlas_mcp_py", "doctor"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def printed_config(output: str) -> dict[str, Any]:
    start = output.index("{\n")
    config: dict[str, Any] = json.loads(output[start : output.index("\n}\n", start) + 2])
    return config


def test_started_by_uvx_doctor_prints_the_uvx_line_and_the_absolute_uvx_for_desktop(
    tmp_path: Path,
) -> None:
    """uv sets UV for what it starts; here a stand-in uv reports this interpreter's
    environment as inside its cache, as a real uvx launch would."""
    tools = tmp_path / "uv-bin"
    uv = make_script(tools / "uv", f"echo '{Path(sys.prefix).parent}'")
    uvx = make_script(tools / "uvx")
    path = os.pathsep.join([str(tools), os.environ.get("PATH", "")])
    done = run_doctor(tmp_path, UV=str(uv), PATH=path)

    advice = done.stdout[done.stdout.index("Installation:") :]
    assert "started by uvx" in advice
    server = printed_config(advice)["mcpServers"]["atlas"]
    assert [server["command"], *server["args"]] == ["uvx", "--from", "atlas-mcp-py", "atlas-mcp"]
    assert "-- uvx --from atlas-mcp-py atlas-mcp" in advice
    assert f'use "command": "{uvx}"' in advice  # Claude Desktop does not read PATH
    assert sys.prefix not in advice


def test_from_this_venv_doctor_prints_its_script_by_absolute_path(tmp_path: Path) -> None:
    done = run_doctor(tmp_path)
    advice = done.stdout[done.stdout.index("Installation:") :]
    assert "virtual environment" in advice
    server = printed_config(advice)["mcpServers"]["atlas"]
    assert Path(server["command"]).is_absolute() and Path(server["command"]).exists()
    assert Path(server["command"]).parent == Path(sys.executable).parent
