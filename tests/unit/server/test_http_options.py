"""The HTTP transport's decisions that need no socket: who may bind without a token, which
Host and Origin values pass, how flags and environment become settings, and how a stop
event ends a wait."""

from __future__ import annotations

import argparse
import time

import anyio
import pytest

from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.cli import _http_overrides, main
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import ConfigError
from atlas_mcp_py.jobs.wait import PollSchedule, WaitSpec, wait_for_prediction
from atlas_mcp_py.server.http import HttpOptions, check_exposure, is_loopback, security_settings
from atlas_mcp_py.server.http_gate import _request_ids


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.3.2.1", "localhost", "LOCALHOST", "::1", "[::1]", "::ffff:127.0.0.1"]
)
def test_loopback_addresses_are_recognised(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "mcp.example.com", "localhost.evil", ""]
)
def test_anything_else_counts_as_exposed(host: str) -> None:
    assert not is_loopback(host)


def test_binding_a_public_address_without_a_token_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        check_exposure("0.0.0.0", None)
    message = str(caught.value)
    assert "0.0.0.0" in message and "ATLAS_MCP_HTTP_TOKEN" in message and "--token" in message
    check_exposure("0.0.0.0", "a-token")  # with a token: allowed
    check_exposure("127.0.0.1", None)  # loopback: the token is optional
    check_exposure("::1", None)


def allows(settings_hosts: list[str], host: str) -> bool:
    return any(
        host == pattern or (pattern.endswith(":*") and host.startswith(pattern[:-1]))
        for pattern in settings_hosts
    )


def test_loopback_hosts_pass_on_any_port_and_the_bound_address_is_added() -> None:
    settings = security_settings("10.0.0.5")
    assert settings.enable_dns_rebinding_protection
    for host in ("127.0.0.1:8765", "localhost:1", "[::1]:9", "localhost", "10.0.0.5:8765"):
        assert allows(settings.allowed_hosts, host), host
    assert not allows(settings.allowed_hosts, "evil.example")
    assert not allows(settings.allowed_hosts, "evil.example:8765")


def test_a_wildcard_bind_allows_no_extra_host() -> None:
    settings = security_settings("0.0.0.0")
    assert not allows(settings.allowed_hosts, "0.0.0.0:8765")
    assert not allows(settings.allowed_hosts, "10.0.0.5:8765")


def test_a_bare_allowed_host_allows_it_with_any_port_and_a_port_pins_it() -> None:
    settings = security_settings("0.0.0.0", ["MCP.example.com", "other.example:8443", "fe80::1"])
    assert allows(settings.allowed_hosts, "mcp.example.com")
    assert allows(settings.allowed_hosts, "mcp.example.com:443")
    assert allows(settings.allowed_hosts, "other.example:8443")
    assert not allows(settings.allowed_hosts, "other.example:9000")
    assert allows(settings.allowed_hosts, "[fe80::1]:8765")


def test_origins_default_to_local_pages_and_take_extras() -> None:
    settings = security_settings("127.0.0.1", allowed_origins=["https://app.example.com/"])
    origins = settings.allowed_origins
    assert "https://app.example.com" in origins
    assert "http://localhost:*" in origins and "http://127.0.0.1:*" in origins
    assert not any("evil" in origin for origin in origins)


def test_allow_lists_come_from_the_environment_comma_separated() -> None:
    settings = Settings.from_env(
        {
            "ATLAS_MCP_ALLOWED_HOSTS": "mcp.example.com, 10.0.0.5:8765,",
            "ATLAS_MCP_ALLOWED_ORIGINS": "https://app.example.com",
        }
    )
    assert settings.allowed_hosts == ("mcp.example.com", "10.0.0.5:8765")
    assert settings.allowed_origins == ("https://app.example.com",)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ATLAS_MCP_ALLOWED_HOSTS", "https://mcp.example.com"),
        ("ATLAS_MCP_ALLOWED_HOSTS", "mcp.example.com/mcp"),
        ("ATLAS_MCP_ALLOWED_ORIGINS", "app.example.com"),
        ("ATLAS_MCP_ALLOWED_ORIGINS", "ftp://app.example.com"),
        ("ATLAS_MCP_ALLOWED_HOSTS", "*"),
        ("ATLAS_MCP_ALLOWED_ORIGINS", "https://*.example.com"),
    ],
)
def test_malformed_allow_list_entries_are_refused_naming_the_variable(
    variable: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_flags_override_the_environment_and_absent_flags_leave_it() -> None:
    env = {"ATLAS_MCP_HTTP_TOKEN": "from-env", "ATLAS_MCP_ALLOWED_HOSTS": "env.example"}
    given = argparse.Namespace(
        token="from-flag", allowed_host=["a.example,b.example", "c.example"], allowed_origin=None
    )
    settings = Settings.from_env(env, **_http_overrides(given))
    assert settings.http_token is not None
    assert settings.http_token.get_secret_value() == "from-flag"
    assert settings.allowed_hosts == ("a.example", "b.example", "c.example")
    absent = argparse.Namespace(token=None, allowed_host=None, allowed_origin=None)
    settings = Settings.from_env(env, **_http_overrides(absent))
    assert settings.http_token is not None
    assert settings.http_token.get_secret_value() == "from-env"
    assert settings.allowed_hosts == ("env.example",)


def test_a_port_outside_the_tcp_range_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--transport", "http", "--port", "99999"])
    assert caught.value.code == 2
    assert "not a port number" in capsys.readouterr().err


def test_http_flags_without_the_http_transport_are_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--host", "0.0.0.0"])
    assert caught.value.code == 2
    assert "need --transport http" in capsys.readouterr().err


def test_http_options_default_to_loopback_on_8765() -> None:
    assert HttpOptions.from_flags(None, None) == HttpOptions(host="127.0.0.1", port=8765)
    assert HttpOptions.from_flags("0.0.0.0", 0).port == 0


def test_only_requests_in_a_post_body_have_ids_to_cancel() -> None:
    assert _request_ids(b'{"jsonrpc":"2.0","id":7,"method":"tools/call"}') == [7]
    assert _request_ids(b'{"jsonrpc":"2.0","id":"a","method":"tools/call"}') == ["a"]
    assert _request_ids(b'{"jsonrpc":"2.0","method":"notifications/initialized"}') == []
    assert _request_ids(b'{"jsonrpc":"2.0","id":3,"result":{}}') == []  # a response
    assert _request_ids(b'{"jsonrpc":"2.0","id":true,"method":"x"}') == []
    assert _request_ids(b"not json") == []


@pytest.mark.anyio
async def test_a_stop_event_ends_a_wait_like_its_budget_with_the_last_state() -> None:
    running = Prediction.model_validate({"id": "p1", "status": "processing"})
    stop = anyio.Event()
    polls = 0

    async def fetch() -> Prediction:
        nonlocal polls
        polls += 1
        if polls == 2:
            stop.set()
        return running

    started = time.monotonic()
    with anyio.fail_after(5):
        outcome = await wait_for_prediction(
            fetch,
            WaitSpec(budget=60, started_at=started, schedule=PollSchedule(0.01, 0.01), heartbeat=1),
            initial=running,
            stop=stop,
        )
    assert outcome.stopped and outcome.timed_out and not outcome.finished
    assert outcome.prediction is running
    assert polls == 2
    assert time.monotonic() - started < 2


@pytest.mark.anyio
async def test_a_wait_that_finishes_is_not_marked_stopped() -> None:
    done = Prediction.model_validate(
        {"id": "p1", "status": "completed", "outputs": ["https://x/v.mp4"]}
    )

    async def fetch() -> Prediction:
        return done

    outcome = await wait_for_prediction(
        fetch,
        WaitSpec(
            budget=5, started_at=time.monotonic(), schedule=PollSchedule(0.01, 0.01), heartbeat=1
        ),
        stop=anyio.Event(),
    )
    assert outcome.finished and not outcome.stopped
