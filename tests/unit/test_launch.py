"""How atlas-mcp was installed, told from made-up prefixes, and the config command for each:
one that keeps working, never a path inside a cache."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from atlas_mcp_py.doctor import client_config
from atlas_mcp_py.launch import SCRIPT, UVX_ARGS, Launch, detect_launch

BIN = "Scripts" if sys.platform == "win32" else "bin"


def make_script(directory: Path, name: str = SCRIPT, body: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def make_env(prefix: Path) -> Path:
    """A fake environment at `prefix` with its interpreter and `atlas-mcp` script."""
    make_script(prefix / BIN, "python")
    make_script(prefix / BIN)
    return prefix / BIN / "python"


def detect(prefix: Path, home: Path, base: Path | None = None, **env: str) -> Launch:
    exe = make_env(prefix)
    env.setdefault("PATH", str(home / "empty-path"))
    return detect_launch(
        prefix=prefix, executable=exe, env=env, home=home, base_prefix=base or Path("/usr")
    )


def assert_no_cache_path(launch: Launch) -> None:
    text = json.dumps([launch.command, *launch.args])
    for marker in ("archive-v0", ".cache", "environments-v", "Caches"):
        assert marker not in text, launch


def test_uvx_from_uvs_default_cache_gets_the_uvx_line(tmp_path: Path) -> None:
    prefix = tmp_path / ".cache" / "uv" / "archive-v0" / "Xb2c9K1q"
    launch = detect(prefix, tmp_path)
    assert launch.kind == "uvx"
    assert (launch.command, launch.args) == ("uvx", ("--from", "atlas-mcp-py", "atlas-mcp"))
    assert launch.args == UVX_ARGS
    assert_no_cache_path(launch)


def test_uvx_from_a_cache_moved_by_uv_cache_dir_is_still_uvx(tmp_path: Path) -> None:
    cache = tmp_path / "ci-cache"
    launch = detect(cache / "archive-v0" / "abc", tmp_path, UV_CACHE_DIR=str(cache))
    assert launch.kind == "uvx"
    assert_no_cache_path(launch)


def test_uvx_from_an_old_uvs_environments_bucket_is_uvx(tmp_path: Path) -> None:
    prefix = tmp_path / "Library" / "Caches" / "uv" / "environments-v1" / "atlas-mcp-py-1f"
    assert detect(prefix, tmp_path).kind == "uvx"


def test_the_uv_variable_locates_a_cache_anywhere_through_uv_cache_dir(tmp_path: Path) -> None:
    """uv sets UV to its own path for the commands it starts; `$UV cache dir` then names
    the cache, wherever the user moved it (here a path with no uv-looking part)."""
    cache = tmp_path / "somewhere"
    fake_uv = make_script(tmp_path / "tools", "uv", f"echo '{cache}'")
    launch = detect(cache / "x7" / "y", tmp_path, UV=str(fake_uv))
    assert launch.kind == "uvx"
    assert_no_cache_path(launch)


def test_uv_run_in_a_project_venv_gets_the_venvs_own_script(tmp_path: Path) -> None:
    """UV is set by `uv run` too: a project's .venv lasts, so its script is the answer."""
    fake_uv = make_script(tmp_path / "tools", "uv", f"echo '{tmp_path / 'uv-cache'}'")
    prefix = tmp_path / "shop" / ".venv"
    launch = detect(prefix, tmp_path, UV=str(fake_uv))
    assert launch.kind == "venv"
    assert launch.command == str(prefix / BIN / SCRIPT)


def test_a_uv_variable_whose_uv_fails_changes_nothing(tmp_path: Path) -> None:
    prefix = tmp_path / "proj" / ".venv"
    launch = detect(prefix, tmp_path, UV=str(tmp_path / "no-such-uv"))
    assert launch.kind == "venv"


@pytest.mark.parametrize("layout", [(".local", "pipx"), (".local", "share", "pipx")])
def test_pipx_gets_the_script_pipx_linked_into_its_bin_dir(
    tmp_path: Path, layout: tuple[str, ...]
) -> None:
    prefix = tmp_path.joinpath(*layout, "venvs", "atlas-mcp-py")
    linked = make_script(tmp_path / ".local" / "bin")
    launch = detect(prefix, tmp_path)
    assert launch.kind == "pipx"
    assert (launch.command, launch.args) == (str(linked), ())


def test_pipx_with_pipx_home_and_bin_dir_set(tmp_path: Path) -> None:
    home = tmp_path / "opt-pipx"
    bin_dir = tmp_path / "opt-bin"
    linked = make_script(bin_dir)
    launch = detect(
        home / "venvs" / "atlas-mcp-py", tmp_path, PIPX_HOME=str(home), PIPX_BIN_DIR=str(bin_dir)
    )
    assert (launch.kind, launch.command) == ("pipx", str(linked))


def test_pipx_without_its_bin_link_falls_back_to_the_name_on_path(tmp_path: Path) -> None:
    launch = detect(tmp_path / ".local" / "pipx" / "venvs" / "atlas-mcp-py", tmp_path)
    assert (launch.kind, launch.command) == ("pipx", SCRIPT)


def test_pipx_run_from_its_cache_gets_a_pipx_run_line(tmp_path: Path) -> None:
    prefix = tmp_path / ".local" / "pipx" / ".cache" / "5d1e2a"
    launch = detect(prefix, tmp_path)
    assert launch.kind == "pipx-run"
    assert (launch.command, launch.args) == ("pipx", ("run", "--spec", "atlas-mcp-py", SCRIPT))
    assert_no_cache_path(launch)


def test_uv_tool_install_gets_the_script_on_path(tmp_path: Path) -> None:
    prefix = tmp_path / ".local" / "share" / "uv" / "tools" / "atlas-mcp-py"
    linked = make_script(tmp_path / ".local" / "bin")
    launch = detect(prefix, tmp_path)
    assert (launch.kind, launch.command) == ("uv-tool", str(linked))


def test_a_venv_gets_the_absolute_path_of_its_script(tmp_path: Path) -> None:
    prefix = tmp_path / "work" / ".venv"
    launch = detect(prefix, tmp_path)
    assert launch.kind == "venv"
    assert (launch.command, launch.args) == (str(prefix / BIN / SCRIPT), ())
    assert os.path.isabs(launch.command)


def test_a_venv_without_the_script_runs_the_module_with_its_python(tmp_path: Path) -> None:
    prefix = tmp_path / "v"
    exe = make_script(prefix / BIN, "python")
    launch = detect_launch(
        prefix=prefix, executable=exe, env={}, home=tmp_path, base_prefix=Path("/usr")
    )
    assert (launch.kind, launch.command, launch.args) == ("venv", str(exe), ("-m", "atlas_mcp_py"))


def test_a_plain_install_gets_its_script_by_absolute_path(tmp_path: Path) -> None:
    prefix = tmp_path / "usr-local"
    launch = detect(prefix, tmp_path, base=prefix)
    assert (launch.kind, launch.command) == ("system", str(prefix / BIN / SCRIPT))


def test_the_client_config_under_uvx_is_the_uvx_line_and_never_the_cache(tmp_path: Path) -> None:
    """This very interpreter, seen through a uv whose cache holds it: the printed config
    (what doctor shows) runs uvx."""
    fake_uv = make_script(tmp_path, "uv", f"echo '{Path(sys.prefix).parent}'")
    config = client_config({"UV": str(fake_uv), "ATLASCLOUD_API_KEY": "secret-key-1"})
    server = config["mcpServers"]["atlas"]
    assert (server["command"], server["args"]) == ("uvx", list(UVX_ARGS))
    assert sys.prefix not in json.dumps(config)
    assert "secret-key-1" not in json.dumps(config)
