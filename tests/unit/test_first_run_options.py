"""`atlas-mcp demo` refuses bad options before anything starts, saying what to do;
`doctor`'s client config and server command (the pieces that need no server)."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

from atlas_mcp_py.demo import DemoOptions, run_demo
from atlas_mcp_py.doctor import KEY_PLACEHOLDER, client_config, server_command

PNG_HEAD = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def refusal(options: DemoOptions, capsys: pytest.CaptureFixture[str]) -> str:
    """Run the demo, expect exit code 2 before anything started; the message."""
    assert run_demo(options) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no simulator, no server: refused first
    return err


def test_a_live_demo_without_a_key_says_how_to_set_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ATLASCLOUD_API_KEY", raising=False)
    err = refusal(DemoOptions(live=True, yes=True), capsys)
    assert "ATLASCLOUD_API_KEY" in err and "export ATLASCLOUD_API_KEY=" in err
    assert "Without --live" in err


def test_a_blank_key_counts_as_no_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATLASCLOUD_API_KEY", "  ")
    assert "ATLASCLOUD_API_KEY" in refusal(DemoOptions(live=True, yes=True), capsys)


def test_a_live_demo_needs_yes_when_it_cannot_ask_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATLASCLOUD_API_KEY", "some-key")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    err = refusal(DemoOptions(live=True), capsys)
    assert "billed" in err and "--yes" in err


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.png", None, "no such file"),
        ("notes.png", b"just some text, not a picture", "starts like plain text"),
        ("photo.jpg", PNG_HEAD, ".png"),
        ("clip.mp4", b"\x00\x00\x00\x18ftypisom" + b"\x00" * 20, "give a PNG or JPEG"),
        ("frame.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "give a PNG or JPEG"),
        (".hidden.png", PNG_HEAD, "hidden"),
    ],
)
def test_the_demo_refuses_an_image_that_is_missing_or_not_an_image(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes | None,
    expected: str,
) -> None:
    image = tmp_path / name
    if content is not None:
        image.write_bytes(content)
    err = refusal(DemoOptions(image=image), capsys)
    assert f"--image {image}" in err and expected in err


def test_the_demo_refuses_a_directory_as_the_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "not a regular file" in refusal(DemoOptions(image=tmp_path), capsys)


def test_the_demo_never_replaces_a_file_the_user_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"precious")
    assert "already exists" in refusal(DemoOptions(save_to=target), capsys)
    assert target.read_bytes() == b"precious"


def test_an_empty_prompt_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--prompt" in refusal(DemoOptions(prompt="  "), capsys)


def test_the_client_config_holds_a_placeholder_never_the_key() -> None:
    env = {
        "ATLASCLOUD_API_KEY": "the-real-key-123",
        "ATLAS_MCP_HTTP_TOKEN": "the-http-token-456",
        "ATLAS_MCP_ROOTS": "/work/project",
    }
    config = client_config(env)
    text = json.dumps(config)
    assert "the-real-key" not in text and "the-http-token" not in text
    server = config["mcpServers"]["atlas"]
    assert server["env"] == {
        "ATLASCLOUD_API_KEY": KEY_PLACEHOLDER,
        "ATLAS_MCP_ROOTS": "/work/project",
    }


def test_the_client_config_carries_a_non_default_base_url_only() -> None:
    default = client_config({"ATLASCLOUD_BASE_URL": "https://api.atlascloud.ai/"})
    assert "ATLASCLOUD_BASE_URL" not in default["mcpServers"]["atlas"]["env"]
    other = client_config({"ATLASCLOUD_BASE_URL": "http://127.0.0.1:9100"})
    assert other["mcpServers"]["atlas"]["env"]["ATLASCLOUD_BASE_URL"] == "http://127.0.0.1:9100"


def test_the_server_command_is_this_installations_atlas_mcp() -> None:
    command, args = server_command()
    assert os.path.isabs(command) and os.access(command, os.X_OK)
    if args:  # no script found: this interpreter runs the package
        assert (command, args) == (sys.executable, ["-m", "atlas_mcp_py"])
    else:
        assert Path(command).name.startswith("atlas-mcp")
