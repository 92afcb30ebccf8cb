"""How this copy of atlas-mcp was started, and the command an IDE config should use.

`uvx --from atlas-mcp-py atlas-mcp` runs from an environment in uv's cache, `pipx install`
from pipx's venvs directory, `uv tool install` from uv's tools directory; others run from a
virtual environment or a plain (system or `--user`) install. The command that started this
process is the right one for a config only when it lasts: a cache directory does not (uv
may clean it or replace it at the next upgrade), so a uvx launch gets the uvx line back,
never the path inside the cache.

`detect_launch` takes every input (prefix, executable, environment, home) as arguments,
so each way of installing can be checked with made-up paths.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal

__all__ = [
    "DISTRIBUTION",
    "SCRIPT",
    "UVX_ARGS",
    "Launch",
    "detect_launch",
    "installed_script",
]

DISTRIBUTION = "atlas-mcp-py"
"""The name on PyPI (`atlas-mcp` there is an unrelated project)."""
SCRIPT = "atlas-mcp"
UVX_ARGS = ("--from", DISTRIBUTION, SCRIPT)
"""`uvx --from atlas-mcp-py atlas-mcp`: what IDE configs run when uv is at hand."""

Kind = Literal["uvx", "pipx", "pipx-run", "uv-tool", "venv", "system"]

# Directories under uv's cache that hold the environments `uvx` (`uv tool run`) makes.
_UV_CACHE_BUCKETS = ("archive-v0", "environments-v1", "environments-v2", "builds-v0")


@dataclass(frozen=True)
class Launch:
    """How this process was started (`kind`) and what a config should run instead."""

    kind: Kind
    command: str
    args: tuple[str, ...]
    summary: str
    """One line for `doctor`: how it was started and why this command."""


def detect_launch(
    prefix: str | PurePath | None = None,
    executable: str | PurePath | None = None,
    env: Mapping[str, str] | None = None,
    home: str | PurePath | None = None,
    base_prefix: str | PurePath | None = None,
) -> Launch:
    """Classify this installation; every argument defaults to this process's own."""
    prefix = Path(sys.prefix if prefix is None else prefix)
    base = Path(sys.base_prefix if base_prefix is None else base_prefix)
    exe = Path(sys.executable if executable is None else executable)
    env = os.environ if env is None else env
    home = Path(Path.home() if home is None else home)

    if _in_uv_cache(prefix, exe, env, home):
        return Launch(
            "uvx",
            "uvx",
            UVX_ARGS,
            "started by uvx from uv's cache: the config runs uvx, which fetches and "
            "caches the package itself (the cache path would not last)",
        )
    pipx_home = _pipx_home(env, home)
    if _under(prefix, pipx_home / ".cache") or _has_parts(prefix, ("pipx", ".cache")):
        return Launch(
            "pipx-run",
            "pipx",
            ("run", "--spec", DISTRIBUTION, SCRIPT),
            "started by `pipx run` from pipx's cache: the config runs pipx the same way",
        )
    if _under(prefix, pipx_home / "venvs") or _has_parts(prefix, ("pipx", "venvs")):
        bin_dir = Path(env.get("PIPX_BIN_DIR") or home / ".local" / "bin")
        return _on_path_or_bin(
            "pipx", bin_dir, env, "installed with pipx: the script pipx put on your PATH"
        )
    uv_tools = Path(env.get("UV_TOOL_DIR") or _xdg_data(env, home) / "uv" / "tools")
    if _under(prefix, uv_tools) or _has_parts(prefix, ("uv", "tools")):
        bin_dir = Path(env.get("UV_TOOL_BIN_DIR") or home / ".local" / "bin")
        return _on_path_or_bin(
            "uv-tool", bin_dir, env, "installed with `uv tool install`: the script on your PATH"
        )
    script = installed_script(prefix, exe)
    if prefix != base:
        command = str(script) if script else str(exe)
        args = () if script else ("-m", "atlas_mcp_py")
        return Launch(
            "venv",
            command,
            args,
            f"installed in the virtual environment {prefix}: its script, by absolute path "
            "(IDEs do not activate venvs)",
        )
    command = str(script) if script else str(exe)
    return Launch(
        "system",
        command,
        () if script else ("-m", "atlas_mcp_py"),
        "installed into this Python: its script, by absolute path (an IDE's PATH may differ)",
    )


def installed_script(prefix: PurePath, executable: PurePath) -> Path | None:
    """The `atlas-mcp` script of this interpreter's installation, if there is one: next
    to the interpreter, in the prefix's scripts directory, or the user scheme's one."""
    names = (f"{SCRIPT}.exe", SCRIPT) if sys.platform == "win32" else (SCRIPT,)
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    dirs = [Path(executable).parent, Path(prefix) / scripts]
    if Path(prefix) == Path(sys.prefix):  # this interpreter: its schemes' script dirs too
        for scheme in ("prefix", "user"):  # e.g. /usr/local/bin; ~/.local/bin (--user)
            with contextlib.suppress(KeyError):
                path = sysconfig.get_path("scripts", sysconfig.get_preferred_scheme(scheme))
                dirs.append(Path(path))
    for directory in dirs:
        for name in names:
            candidate = directory / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    return None


def _on_path_or_bin(kind: Kind, bin_dir: Path, env: Mapping[str, str], summary: str) -> Launch:
    """The tool's script in its bin directory, by absolute path when it is there, else the
    bare name for the PATH to find."""
    names = (f"{SCRIPT}.exe", SCRIPT) if sys.platform == "win32" else (SCRIPT,)
    for name in names:
        if (bin_dir / name).is_file():
            return Launch(kind, str(bin_dir / name), (), summary)
    found = shutil.which(SCRIPT, path=env.get("PATH"))
    return Launch(kind, found or SCRIPT, (), summary)


def _in_uv_cache(prefix: Path, exe: Path, env: Mapping[str, str], home: Path) -> bool:
    caches = [Path(env["UV_CACHE_DIR"])] if env.get("UV_CACHE_DIR") else []
    caches += [
        Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "uv",
        home / "Library" / "Caches" / "uv",
    ]
    if env.get("LOCALAPPDATA"):
        caches.append(Path(env["LOCALAPPDATA"]) / "uv" / "cache")
    uv = env.get("UV")  # set by uv for the commands it starts (uvx, uv run)
    if uv:
        reported = _uv_cache_dir(uv)
        if reported is not None:
            caches.append(reported)
    for path in (prefix, exe):
        if any(_under(path, cache) for cache in caches):
            return True
        if any(_has_parts(path, ("uv", bucket)) for bucket in _UV_CACHE_BUCKETS):
            return True
    return False


def _uv_cache_dir(uv: str) -> Path | None:
    """Where the uv that started us keeps its cache (`uv cache dir`), or None."""
    try:
        done = subprocess.run(
            [uv, "cache", "dir"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return Path(text) if done.returncode == 0 and text else None


def _pipx_home(env: Mapping[str, str], home: Path) -> Path:
    if env.get("PIPX_HOME"):
        return Path(env["PIPX_HOME"])
    legacy = home / ".local" / "pipx"
    return legacy if legacy.is_dir() else _xdg_data(env, home) / "pipx"


def _xdg_data(env: Mapping[str, str], home: Path) -> Path:
    return Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _has_parts(path: PurePath, parts: tuple[str, ...]) -> bool:
    """Whether `parts` appear as consecutive components of `path`."""
    names = path.parts
    return any(names[i : i + len(parts)] == parts for i in range(len(names)))
