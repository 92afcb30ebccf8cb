"""Settings from the environment: validation, defaults, and the key kept secret."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from atlas_mcp_py.config import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_WAIT_SECONDS,
    Settings,
    default_state_dir,
)
from atlas_mcp_py.errors import ConfigError

KEY = "sk-atlas-TESTKEY-0123456789abcdef"


def test_empty_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.api_key is None
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.max_wait_seconds == DEFAULT_MAX_WAIT_SECONDS
    assert settings.log_level == "INFO"
    assert settings.roots == ()
    assert settings.http_token is None


def test_every_documented_variable_is_read() -> None:
    env = {
        "ATLASCLOUD_API_KEY": f"  {KEY}\n",
        "ATLASCLOUD_BASE_URL": "http://127.0.0.1:9100/",
        "ATLAS_MCP_ROOTS": os.pathsep.join(["/tmp/a", "/tmp/b"]),
        "ATLAS_MCP_MAX_WAIT": "30",
        "ATLAS_MCP_STATE_DIR": "/tmp/state",
        "ATLAS_MCP_HTTP_TOKEN": "tok",
        "ATLAS_MCP_LOG_LEVEL": "debug",
    }
    settings = Settings.from_env(env)
    assert settings.require_api_key() == KEY
    assert settings.base_url == "http://127.0.0.1:9100"
    assert settings.roots == (Path("/tmp/a"), Path("/tmp/b"))
    assert settings.max_wait_seconds == 30.0
    assert settings.state_dir == Path("/tmp/state")
    assert settings.http_token is not None
    assert settings.http_token.get_secret_value() == "tok"
    assert settings.log_level == "DEBUG"


def test_keyword_overrides_win_over_the_environment_and_none_is_ignored() -> None:
    env = {"ATLAS_MCP_MAX_WAIT": "30", "ATLAS_MCP_LOG_LEVEL": "ERROR"}
    settings = Settings.from_env(env, max_wait_seconds=12.5, log_level=None)
    assert settings.max_wait_seconds == 12.5
    assert settings.log_level == "ERROR"


def test_blank_api_key_counts_as_missing() -> None:
    assert Settings.from_env({"ATLASCLOUD_API_KEY": "   "}).api_key is None


def test_missing_key_raises_config_error_that_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError, match="ATLASCLOUD_API_KEY") as info:
        Settings.from_env({}).require_api_key()
    assert "mcpServers" in str(info.value)


def test_repr_and_str_of_settings_hide_the_api_key() -> None:
    settings = Settings.from_env({"ATLASCLOUD_API_KEY": KEY, "ATLAS_MCP_HTTP_TOKEN": KEY + "h"})
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert KEY not in text
    assert "**********" in repr(settings)


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("ATLASCLOUD_BASE_URL", KEY),
        ("ATLAS_MCP_MAX_WAIT", KEY),
        ("ATLAS_MCP_MAX_WAIT", "-1"),
        ("ATLAS_MCP_LOG_LEVEL", KEY),
        ("ATLAS_MCP_POLL_MIN", "0"),
        ("ATLAS_MCP_MAX_UPLOAD_BYTES", "lots"),
    ],
)
def test_invalid_value_names_the_variable_and_never_echoes_the_key(var: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"ATLASCLOUD_API_KEY": KEY, var: value})
    error = info.value
    assert var in str(error)
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_poll_minimum_above_maximum_is_rejected_naming_both_variables() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"ATLAS_MCP_POLL_MIN": "10", "ATLAS_MCP_POLL_MAX": "5"})
    assert "ATLAS_MCP_POLL_MIN" in str(info.value)
    assert "ATLAS_MCP_POLL_MAX" in str(info.value)


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(ConfigError, match="not_a_setting"):
        Settings.from_env({}, not_a_setting=1)


def test_base_url_must_be_http_or_https() -> None:
    with pytest.raises(ConfigError, match="ATLASCLOUD_BASE_URL"):
        Settings.from_env({"ATLASCLOUD_BASE_URL": "ftp://example.com"})


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(ValueError, match="frozen"):
        settings.max_retries = 9  # type: ignore[misc]


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux (XDG) locations")
def test_state_dir_on_linux_is_where_earlier_versions_kept_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `default_state_dir` as imported at collection, before conftest points it at tmp_path
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    assert default_state_dir() == tmp_path / "home" / ".local" / "state" / "atlas-mcp-py"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "xdg" / "atlas-mcp-py"
