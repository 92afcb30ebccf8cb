"""The team server's settings: the ledger's database URL, the tokens file, the daily
limit, and the HTTP default of the in-flight limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_mcp_py.config import DEFAULT_HTTP_MAX_IN_FLIGHT, Settings
from atlas_mcp_py.errors import ConfigError
from atlas_mcp_py.jobs.backend import shown_location
from atlas_mcp_py.server.http import http_settings


def test_a_database_url_moves_the_ledger_and_is_never_shown_with_its_password() -> None:
    url = "postgresql://atlas:s3cret-pw@db.internal:5432/atlas"
    settings = Settings.from_env({"ATLAS_MCP_DATABASE_URL": url})
    assert settings.ledger_location == url
    assert "s3cret" not in repr(settings)
    assert shown_location(settings.ledger_location) == "postgresql://atlas@db.internal:5432/atlas"
    assert Settings.from_env({}).ledger_location == Settings().resolved_state_dir / "jobs.sqlite3"


def test_a_database_url_that_is_not_postgresql_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="ATLAS_MCP_DATABASE_URL") as caught:
        Settings.from_env({"ATLAS_MCP_DATABASE_URL": "mysql://u:hunter2@h/db"})
    assert "hunter2" not in str(caught.value)


def test_the_tokens_file_and_the_daily_limit_are_read() -> None:
    settings = Settings.from_env(
        {"ATLAS_MCP_HTTP_TOKENS_FILE": "~/tokens", "ATLAS_MCP_USER_DAILY_USD": "12.5"}
    )
    assert settings.http_tokens_file == Path("~/tokens").expanduser()
    assert settings.user_daily_usd == 12.5
    with pytest.raises(ConfigError, match="ATLAS_MCP_USER_DAILY_USD"):
        Settings.from_env({"ATLAS_MCP_USER_DAILY_USD": "-1"})


def test_http_takes_its_own_in_flight_default_unless_one_is_set() -> None:
    assert http_settings(Settings.from_env({})).max_in_flight == DEFAULT_HTTP_MAX_IN_FLIGHT
    chosen = Settings.from_env({"ATLAS_MCP_MAX_IN_FLIGHT": "2"})
    assert http_settings(chosen).max_in_flight == 2
    assert Settings.from_env({}).max_in_flight == 4  # stdio keeps its default
