"""Text that could forge or disguise what a person reads (issue 21, items 9 and 11):
`atlas-mcp doctor` prints every check on one line, with no escape sequence, carriage
return or forged line from what a hostile Atlas sends (a fake on loopback: a stdlib HTTP
server in a thread, as `run_doctor` runs its own event loop); `save_to` names with
control or text-direction characters are refused; a huge logged value is cut."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from atlas_mcp_py.atlas.sanitize import one_line, strip_controls
from atlas_mcp_py.cli import MAX_LOG_MESSAGE_CHARS, RedactingFilter
from atlas_mcp_py.doctor import run_doctor
from atlas_mcp_py.errors import FileRefused
from atlas_mcp_py.files.roots import AllowedRoots
from atlas_mcp_py.files.saves import plan_save

FORGED = "usd\x1b[2J\x1b[H\rOK    everything: fine\n\x9b31mOK    forged\u202e"


class HostileAtlas(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/api/v1/models"):
            body = {"code": 200, "data": [{"model": "x/\x1b]0;pwned\x07m", "type": "video"}]}
        else:
            body = {"available": {"value": 5, "currency": FORGED}}
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HostileAtlas)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_doctor_prints_no_terminal_controls_or_forged_lines(hostile: str, tmp_path: object) -> None:
    lines: list[str] = []
    env = {
        "ATLASCLOUD_API_KEY": "sk-test-doctor-1",
        "ATLASCLOUD_BASE_URL": hostile,
        "ATLAS_MCP_STATE_DIR": str(tmp_path),
        "NO_PROXY": "127.0.0.1",
    }
    run_doctor(lines.append, env)
    printed = "\n".join(lines)
    assert "\x1b" not in printed and "\r" not in printed and "\x9b" not in printed
    assert "\u202e" not in printed
    key_line = next(line for line in lines if "API key accepted" in line)
    assert "balance 5.00 USDOK EVERYTHING: FINE" in key_line
    assert not any(line.startswith("OK    forged") for line in lines)
    assert not any(line.startswith("OK    everything") for line in lines)


def test_controls_are_stripped_and_one_line_folds_newlines() -> None:
    assert strip_controls("a\x1b[31mred\x1b[0m\tb\nc\x07\x00\u2066d") == "ared\tb\ncd"
    assert strip_controls("plain text, ünïcode, 日本") == "plain text, ünïcode, 日本"
    assert one_line("x\n\nOK  y\x1b]0;t\x07", 100) == "x OK y"
    assert len(one_line("z" * 100_000, 200)) == 200


@pytest.mark.parametrize(
    "save_to", ["clip\n[saved] /etc/passwd.mp4", "x/\u202egnp.mp4", "a\x1b[2Jb.mp4", "c\u2066d.mp4"]
)
def test_save_to_names_with_controls_or_direction_marks_are_refused(
    tmp_path: Path, save_to: str
) -> None:
    refusal = r"\(U\+[0-9A-F]{4}\) at character \d+: .*plain characters"
    with pytest.raises(FileRefused, match=refusal):
        plan_save(AllowedRoots.from_paths([tmp_path], "test"), save_to)
    assert plan_save(AllowedRoots.from_paths([tmp_path], "test"), "clip-ünï 日本.mp4")


def test_a_huge_logged_value_is_cut_and_the_key_still_redacted() -> None:
    record = logging.LogRecord(
        "mcp",
        logging.INFO,
        __file__,
        1,
        "Resource %r failed: %r",
        ("x" * 100_000 + "sk-k3y", "e"),
        None,
    )
    assert RedactingFilter(["sk-k3y"]).filter(record)
    message = record.getMessage()
    assert len(message) <= MAX_LOG_MESSAGE_CHARS
    assert "cut" in message and "sk-k3y" not in message
    short = logging.LogRecord("x", logging.INFO, __file__, 1, "sk-k3y here", (), None)
    RedactingFilter(["sk-k3y"]).filter(short)
    assert short.getMessage() == "[redacted] here"
