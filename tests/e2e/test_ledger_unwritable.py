"""A paid request is sent only once its ledger row is written. A server whose ledger
cannot be written any more (the disk filled up after it started) refuses generate calls
with the fix, nothing sent; reads and uploads keep working.

"Read-only" cannot be made with file modes here: the tests run as root, which ignores
them. A full disk can be, for one process and for root too: `RLIMIT_FSIZE` set to 0 on the
running server (`prlimit`) makes every write that would grow a file fail (EFBIG; Python
ignores the SIGXFSZ that comes with it), exactly where ENOSPC would. stdout and stderr are
pipes, which the limit does not touch.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import PNG
from stdio_session import stdio_session

from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="prlimit is Linux-only"),
]


def text(result: dict[str, Any]) -> str:
    content = result.get("content")
    assert isinstance(content, list)
    return " ".join(str(block.get("text", "")) for block in content)


async def test_a_full_disk_refuses_generate_before_sending_and_keeps_reads_and_uploads(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "photo.png").write_bytes(PNG)
    state = tmp_path / "state"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ATLASCLOUD_API_KEY": SIMULATOR_API_KEY,
        "ATLASCLOUD_BASE_URL": sim.base_url,
        "ATLAS_MCP_ROOTS": str(tmp_path),
        "ATLAS_MCP_STATE_DIR": str(state),
    }
    with anyio.fail_after(60):
        async with stdio_session(env, tmp_path) as session:
            before = await session.call("atlas_generate_video", {"prompt": "a cat", "wait": False})
            job_id = before["structuredContent"]["prediction_id"]
            # the disk is full from now on, for this process
            resource.prlimit(session.pid, resource.RLIMIT_FSIZE, (0, 0))
            refused = await session.call("atlas_generate_video", {"prompt": "a dog"})
            upload = await session.call("atlas_upload_media", {"path": "photo.png"})
            models = await session.call("atlas_list_models", {})
            checked = await session.call("atlas_check_status", {"prediction_id": job_id})
    assert refused["isError"] is True
    assert "Nothing was sent or billed" in text(refused)
    assert "ATLAS_MCP_STATE_DIR" in text(refused) and str(state) in text(refused)
    assert sim.state.count("generate") == 1  # the job from before the disk filled up
    for result in (upload, models, checked):
        assert result.get("isError") is not True, text(result)
    notes = checked["structuredContent"]["notes"]
    assert any("could not record" in note for note in notes)
