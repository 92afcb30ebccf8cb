"""Users of one HTTP server (ATLAS_MCP_HTTP_TOKENS_FILE): each sees, checks and reads only
their own jobs, the duplicate guard is per user, and a daily spend limit refuses before
anything is sent. A real uvicorn server on 127.0.0.1 against the simulator."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from helpers import structured, text_of
from test_http_transport import (
    ACCEPT,
    TOKEN,
    http_server,
    initialize_body,
    make_settings,
    mcp_client,
)

from atlas_mcp_py.errors import ConfigError
from atlas_mcp_py.server.users import Users, add_token, read_tokens_file, token_hash
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def tokens(tmp_path: Path) -> tuple[Path, str, str]:
    """A tokens file with users ann and bob; their tokens."""
    path = tmp_path / "tokens"
    return path, add_token(path, "ann"), add_token(path, "bob")


def raw_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": ACCEPT}


async def generate(url: str, token: str, prompt: str, mode: str = "auto") -> dict[str, object]:
    async with mcp_client(url, mode, token) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("atlas_generate_video", {"prompt": prompt})
    assert not result.is_error, text_of(result)
    return structured(result)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_each_user_sees_checks_and_reads_only_their_own_jobs(
    sim: SimulatorServer, tokens: tuple[Path, str, str], mode: str
) -> None:
    path, ann, bob = tokens
    with http_server(make_settings(sim, http_tokens_file=path)) as running:
        job = await generate(running.url, ann, "ann's lighthouse", mode)
        async with mcp_client(running.url, mode, bob) as client:
            listed = await client.call_tool("atlas_list_jobs", {})
            checked = await client.call_tool(
                "atlas_check_status", {"prediction_id": job["prediction_id"]}
            )
            never = await client.call_tool("atlas_check_status", {"prediction_id": "nope42"})
            with pytest.raises(Exception, match="No job") as read:
                await client.read_resource(f"atlas://jobs/{job['prediction_id']}")
        async with mcp_client(running.url, mode, ann) as client:
            own = await client.call_tool("atlas_list_jobs", {})
            own_check = await client.call_tool(
                "atlas_check_status", {"prediction_id": job["prediction_id"]}
            )
            own_read = await client.read_resource(f"atlas://jobs/{job['prediction_id']}")
        async with mcp_client(running.url, mode, TOKEN) as client:  # the single token: ""
            single = await client.call_tool("atlas_list_jobs", {})
    assert structured(listed)["jobs"] == []
    assert checked.is_error and "Unknown job" in text_of(checked), text_of(checked)
    # another user's id answers exactly as an id never seen: nothing says it exists
    assert never.is_error
    assert text_of(never).replace("nope42", "ID") == text_of(checked).replace(
        str(job["prediction_id"]), "ID"
    )
    assert "ann" not in str(read.value)
    assert [j["prediction_id"] for j in structured(own)["jobs"]] == [job["prediction_id"]]
    assert not own_check.is_error and structured(own_check)["status"] == "completed"
    assert own_read.contents
    assert structured(single)["jobs"] == []
    assert sim.state.count("prediction", str(job["prediction_id"])) >= 1


async def test_the_duplicate_guard_is_per_user(
    sim: SimulatorServer, tokens: tuple[Path, str, str]
) -> None:
    path, ann, bob = tokens
    with http_server(make_settings(sim, http_tokens_file=path)) as running:
        first = await generate(running.url, ann, "the same request")
        again = await generate(running.url, ann, "the same request")
        other = await generate(running.url, bob, "the same request")
    assert again["prediction_id"] == first["prediction_id"]
    assert other["prediction_id"] != first["prediction_id"]
    assert sim.state.count("generate") == 2


async def test_the_daily_spend_limit_refuses_before_billing_saying_limit_and_spend(
    sim: SimulatorServer, tokens: tuple[Path, str, str]
) -> None:
    path, ann, bob = tokens
    settings = make_settings(sim, http_tokens_file=path, user_daily_usd=0.3)
    with http_server(settings) as running:
        await generate(running.url, ann, "first")  # $0.196
        async with mcp_client(running.url, "auto", ann) as client:
            refused = await client.call_tool("atlas_generate_video", {"prompt": "second"})
        await generate(running.url, bob, "bob's first")  # another user's day
    assert refused.is_error
    text = text_of(refused)
    assert "daily spend limit is $0.30" in text and "$0.20" in text, text
    assert "Nothing was sent or billed" in text
    assert sim.state.count("generate") == 2


async def test_a_token_not_in_the_file_is_refused(
    sim: SimulatorServer, tokens: tuple[Path, str, str]
) -> None:
    path, ann, _ = tokens
    with http_server(make_settings(sim, http_tokens_file=path, http_token=None)) as running:
        async with httpx2.AsyncClient() as http:
            for token in (ann + "x", TOKEN):  # the single token is not set here
                answer = await http.post(
                    running.url, json=initialize_body(), headers=raw_headers(token)
                )
                assert answer.status_code == 401, answer.text
        async with mcp_client(running.url, "auto", ann) as client:
            assert (await client.list_tools()).tools


def test_the_tokens_file_keeps_hashes_only_and_is_private(
    tokens: tuple[Path, str, str],
) -> None:
    path, ann, bob = tokens
    text = path.read_text()
    assert ann not in text and bob not in text
    assert text == f"ann {token_hash(ann)}\nbob {token_hash(bob)}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = Users(read_tokens_file(path))
    assert (users.who(ann), users.who(bob), users.who("guess")) == ("ann", "bob", None)
    with pytest.raises(ConfigError, match="already has a user ann"):
        add_token(path, "ann")
    with pytest.raises(ConfigError, match="not a user name"):
        add_token(path, "has space")
    path.write_text(text + "carol nothex\n")
    with pytest.raises(ConfigError, match="line 3"):
        read_tokens_file(path)


def test_token_add_prints_the_token_once_and_appends_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "team" / "tokens"
    run = subprocess.run(
        [sys.executable, "-m", "atlas_mcp_py", "token", "add", "dana"],
        env={**os.environ, "ATLAS_MCP_HTTP_TOKENS_FILE": str(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    token = run.stdout.strip()
    assert len(token) >= 40 and "\n" not in token
    assert path.read_text() == f"dana {token_hash(token)}\n"
    assert token not in run.stderr
