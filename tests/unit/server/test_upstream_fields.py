"""The key echoed in any field of an Atlas answer (output URLs, model, status, history,
upload URL) is blanked before a tool returns it or the ledger stores it, and so is any
`Bearer` token; driven through the tools of a server whose HTTP layer is a fake Atlas
(`httpx2.MockTransport`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from helpers import PNG, structured
from mcp import Client

from atlas_mcp_py.config import Settings
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.server.app import build_server

pytestmark = pytest.mark.anyio

KEY = "sk-live-4f1e9a7c2b"


def echoing_atlas(request: httpx2.Request) -> httpx2.Response:
    """A fake Atlas that quotes the request's key back in every field it can."""
    auth = request.headers.get("authorization", "")
    key = auth.removeprefix("Bearer ")
    if request.url.path.startswith("/api/v1/model/prediction/"):
        data: dict[str, Any] = {
            "id": "p-1",
            "model": f"minimax/hailuo-02/fast?k={key}",
            "status": "completed",
            "outputs": [
                f"https://cdn.example/v.mp4?token={key}",
                f"https://cdn.example/v2.mp4?auth=Bearer%20{key}",
            ],
            "error": None,
            "logs": f"sent with {auth}",
        }
        return httpx2.Response(200, json={"code": 200, "data": data})
    if request.url.path == "/api/v1/model/uploadMedia":
        body = {"code": 200, "data": {"download_url": f"https://cdn.example/u.png?{key}"}}
        return httpx2.Response(200, json=body)
    return httpx2.Response(404, json={"code": 404, "message": f"no route; you sent {auth}"})


async def test_the_key_echoed_in_any_field_is_blanked_in_results_and_the_ledger(
    tmp_path: Path,
) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    root.mkdir()
    (root / "photo.png").write_bytes(PNG)
    settings = Settings(
        api_key=KEY, base_url="https://atlas.example", roots=(root,), state_dir=state
    )
    transport = httpx2.MockTransport(echoing_atlas)
    async with Client(build_server(settings, transport=transport)) as client:
        checked = await client.call_tool("atlas_check_status", {"prediction_id": "p-1"})
        uploaded = await client.call_tool("atlas_upload_media", {"path": "photo.png"})
        missing = await client.call_tool("atlas_list_models", {})
    data = structured(checked)
    assert data["video_url"] == "https://cdn.example/v.mp4?token=[redacted]"
    assert data["outputs"][1] == "https://cdn.example/v2.mp4?auth=Bearer%20[redacted]"
    assert structured(uploaded)["url"] == "https://cdn.example/u.png?[redacted]"
    assert missing.is_error
    shown = json.dumps(
        [r.model_dump(mode="json") for r in (checked, uploaded, missing)], ensure_ascii=False
    )
    assert KEY not in shown
    assert "[redacted]" in shown
    stored = b"".join(p.read_bytes() for p in state.iterdir())
    assert KEY.encode() not in stored
    with Ledger.open(Ledger.default_path(state)) as ledger:
        row = ledger.get("p-1")
    assert row is not None and row.outputs[0].endswith("token=[redacted]")
