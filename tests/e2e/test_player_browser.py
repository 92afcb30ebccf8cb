"""The MCP Apps player in a real browser: Debian's headless Chromium (installed with apt-get
when missing; the test fails under CI rather than skip), driven by playwright-core from npm,
renders `ui://atlas/player` inside tests/player/host.html, a web host built on the
official host bridge (`@modelcontextprotocol/ext-apps` AppBridge + PostMessageTransport)
whose TypeScript MCP client talks to `atlas-mcp serve --transport http` (a subprocess)
backed by the simulator, in both protocol eras.

Seen in the browser: the running view's elapsed time advancing until the job completes
(polling a job returned at once, and watching the job of a call that waits),
the simulator's H.264 MP4 loading and playing after a click on its play button
(`currentTime` advances), keyboard focus reaching the buttons and Enter on "Save to
workspace" writing the file into ATLAS_MCP_ROOTS, an image's "Animate this still"
asking the cost question before it starts a video job, and a failed job's reason, next
step and "Try again" (a new job, its cost asked again). ATLAS_PLAYER_SHOTS=docs writes the
screenshots the README shows (docs/player-light.png, docs/player-dark.png).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import free_port, wait_until_answering

from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "tests" / "player"
PACKAGES = REPO / ".test-cache" / "player"
NPM_PACKAGES = [
    "@modelcontextprotocol/ext-apps@2.0.4",
    "@modelcontextprotocol/client@2.4.0",
    "zod@4",
    "playwright-core@1.65.2",
    "esbuild@0.28.2",
]
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def sim_job_seconds() -> float:
    """Long enough to watch the running view tick (the screenshots' prompts stay clean)."""
    return 6.0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):  # CI installs what this needs: it must not skip
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser_harness() -> Path:
    """Chromium from Debian and the npm packages of the host page, installed once."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        _unavailable("node and npm are not installed: the browser host needs them")
    if not CHROMIUM.exists():
        if os.geteuid() != 0:
            _unavailable("Debian's chromium is not installed (apt-get install chromium)")
        apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt, timeout=600)
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
        subprocess.run(install, check=True, env=apt, timeout=900, stdout=subprocess.DEVNULL)
    marker = PACKAGES / "installed.json"
    if not marker.exists() or json.loads(marker.read_text()) != NPM_PACKAGES:
        PACKAGES.mkdir(parents=True, exist_ok=True)
        quiet = ["--no-audit", "--no-fund", "--no-package-lock", "--silent"]
        assert npm is not None
        command = [npm, "install", "--prefix", str(PACKAGES), *quiet, *NPM_PACKAGES]
        subprocess.run(command, check=True, timeout=600)
        marker.write_text(json.dumps(NPM_PACKAGES))
    return PACKAGES


def shot_path(tmp_path: Path, name: str) -> str:
    folder = os.environ.get("ATLAS_PLAYER_SHOTS")
    return str((REPO / folder if folder else tmp_path) / name)


async def drive(packages: Path, mcp_url: str, scenarios: list[dict[str, Any]]) -> Any:
    config = {
        "packages": str(packages),
        "chromium": str(CHROMIUM),
        "mcpUrl": mcp_url,
        "scenarios": scenarios,
    }
    command = ["node", str(HARNESS / "drive.mjs"), json.dumps(config)]
    with anyio.fail_after(240):
        done = await anyio.run_process(command, check=False)
    assert done.returncode == 0, done.stderr.decode()
    results = json.loads(done.stdout)["results"]
    for result in results:
        assert "failure" not in result, result
        assert result["host"]["error"] is None, result["host"]
        assert result["console"] == [], result["console"]
    return {r["name"]: r for r in results}


def head(path: Path) -> bytes:
    return path.read_bytes()[:16]


def elapsed_values(seen: list[dict[str, Any]]) -> list[int]:
    return [int(s["elapsed"].split()[0]) for s in seen if s["badge"] == "processing"]


async def test_the_player_plays_polls_and_saves_in_chromium(
    sim: SimulatorServer, tmp_path: Path, browser_harness: Path
) -> None:
    root = tmp_path / "workspace"
    root.mkdir()
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "NO_PROXY": "127.0.0.1,localhost",
        "ATLASCLOUD_API_KEY": SIMULATOR_API_KEY,
        "ATLASCLOUD_BASE_URL": sim.base_url,
        "ATLAS_MCP_ROOTS": str(root),
        "ATLAS_MCP_STATE_DIR": str(tmp_path / "state"),
        "ATLAS_MCP_POLL_MIN": "0.2",
        "ATLAS_MCP_POLL_MAX": "0.5",
        "ATLAS_MCP_CONFIRM_ABOVE_USD": "0",  # every job asks: the host approves and records
    }
    serve = [sys.executable, "-m", "atlas_mcp_py", "serve", "--transport", "http"]
    process = await anyio.open_process([*serve, "--port", str(port)], env=env, stderr=None)
    running = {"wait": False}
    scenarios: list[dict[str, Any]] = [
        {
            "name": "light",
            "era": "legacy",
            "tool": "atlas_generate_video",
            "args": {"prompt": "a lighthouse at dusk", **running},
            "play": True,
            "record": True,
            "shot": shot_path(tmp_path, "player-light.png"),
            "keyboardSave": True,
        },
        {
            "name": "dark",
            "era": "modern",
            "theme": "dark",
            "tool": "atlas_generate_video",
            "args": {"prompt": "a paper boat on a rainy street"},  # the call waits
            "play": True,
            "record": True,
            "shot": shot_path(tmp_path, "player-dark.png"),
        },
        {
            "name": "still",
            "era": "modern",
            "theme": "dark",
            "tool": "atlas_generate_image",
            "args": {"prompt": "a red kite over a beach [sim:seconds=0.5]"},
            "animate": True,
        },
        {
            "name": "failed",
            "era": "legacy",
            "tool": "atlas_generate_video",
            "args": {"prompt": "a storm at sea [sim:fail] [sim:seconds=0.5]"},
            "retry": True,
        },
    ]
    try:
        await wait_until_answering(f"http://127.0.0.1:{port}/healthz", process)
        seen = await drive(browser_harness, f"http://127.0.0.1:{port}/mcp", scenarios)
    finally:
        process.terminate()
        with anyio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            process.kill()

    light, dark, still, failed = seen["light"], seen["dark"], seen["still"], seen["failed"]
    bound = {t["name"] for t in light["host"]["tools"] if t["ui"]}
    assert bound == {"atlas_generate_video", "atlas_generate_image", "atlas_check_status"}
    assert sim.base_url in light["host"]["csp"]["resourceDomains"]

    # the running view: the elapsed time advances, polled through the bridge, to the end
    ticks = elapsed_values(light["seen"])
    assert len(set(ticks)) >= 4 and ticks == sorted(ticks), light["seen"]
    assert light["seen"][-1]["badge"] == "completed" and not light["seen"][-1]["running"]
    # while a call waits (no id until its result), the job found in the ledger is watched
    watched = [s for s in dark["seen"] if s["running"] and "Atlas: processing" in s["phase"]]
    assert len({s["elapsed"] for s in watched}) >= 2, dark["seen"]
    for view in (light, dark):
        final = view["final"]
        assert final["badge"] == "completed", view
        assert final["media"]["tag"] == "VIDEO"
        assert final["media"]["src"].startswith(f"{sim.base_url}/files/outputs/")
        assert set(final["details"]) >= {"Prompt", "Model", "Duration", "Estimated cost"}
        assert "Expires" in final["details"], final["details"]
        played = view["played"]
        assert played["error"] is None and played["videoWidth"] == 320, played
        assert played["canPlayH264"] == "probably"
        assert not played["paused"] and played["currentTime"] > 0.5, played

    # keyboard: Tab from the video reaches the buttons; Enter on Save writes the file
    assert light["focus"].index("save") < light["focus"].index("retry"), light["focus"]
    message = light["afterSave"]["message"]
    assert message.startswith(f"Saved to {root}/"), message
    saved = Path(message.removeprefix("Saved to "))
    assert saved.suffix == ".mp4" and head(saved)[4:8] == b"ftyp"
    assert light["afterSave"]["details"]["Saved at"] == str(saved)

    # a still: shown as an image with "Animate this still", which asks the cost first
    assert still["final"]["media"]["tag"] == "IMG"
    assert "Animate this still" in still["final"]["buttons"]
    asked = [q for q in still["questions"] if q.startswith("Generate a video")]
    assert len(asked) == 1, still["questions"]
    assert still["animated"]["badge"] == "completed", still["animateSeen"]
    assert still["animated"]["media"]["tag"] == "VIDEO"

    # a failure: the reason and the next step; "Try again" is a new job, its cost asked
    assert failed["final"]["badge"] == "failed", failed["final"]
    assert failed["final"]["problem"] == "Generation failed: the model returned an error."
    assert failed["final"]["next"].startswith("reword the prompt"), failed["final"]
    assert "Try again" in failed["final"]["buttons"]
    first = failed["final"]["details"]["Prediction"]
    assert [q[:16] for q in failed["retryQuestions"]] == ["Generate a video"]
    assert failed["retried"]["badge"] == "failed", failed["retrySeen"]
    assert failed["retried"]["details"]["Prediction"] != first
