"""`atlas-mcp demo`: the whole job with no key and no network.

Starts the bundled simulator on 127.0.0.1, launches `atlas-mcp` as a stdio subprocess the
way an IDE does, connects the MCP SDK's client, uploads the bundled product photo,
generates a video with a live progress bar, prints the result and exits 0.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

__all__ = ["run_demo"]

BAR_WIDTH = 30


def _bundled_image(workdir: Path) -> Path:
    target = workdir / "product.png"
    with resources.as_file(resources.files("atlas_mcp_py") / "assets" / "product.png") as src:
        shutil.copyfile(src, target)
    return target


async def _demo(job_seconds: float) -> int:
    from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer, SimulatorState

    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "atlas_mcp_py.simulator"):
        logging.getLogger(name).setLevel(logging.WARNING)

    with (
        SimulatorServer(SimulatorState(job_seconds=job_seconds)) as sim,
        tempfile.TemporaryDirectory(prefix="atlas-demo-") as tmp,
    ):
        workdir = Path(tmp)
        image = _bundled_image(workdir)
        print(f"Atlas API simulator on {sim.base_url}; workspace {workdir}")
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "atlas_mcp_py"],
            env={
                "ATLASCLOUD_API_KEY": SIMULATOR_API_KEY,
                "ATLASCLOUD_BASE_URL": sim.base_url,
                "ATLAS_MCP_ROOTS": str(workdir),
                "ATLAS_MCP_STATE_DIR": str(workdir / "state"),  # not the user's job ledger
                "ATLAS_MCP_LOG_LEVEL": "WARNING",
                "ATLAS_MCP_HEARTBEAT": "1",
            },
            cwd=str(workdir),
        )
        async with Client(params) as client:
            tools = await client.list_tools()
            print("MCP server tools:", ", ".join(t.name for t in tools.tools))
            up = await client.call_tool("atlas_upload_media", {"path": image.name})
            if up.is_error:
                return _failed("upload", up)
            uploaded: dict[str, Any] = up.structured_content or {}
            print(
                f"Uploaded {image.name} ({uploaded.get('size_bytes')} bytes): {uploaded.get('url')}"
            )

            async def on_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                if total:
                    filled = int(min(1.0, progress / total) * BAR_WIDTH)
                    bar = "#" * filled + "." * (BAR_WIDTH - filled)
                else:  # no estimate yet: a moving marker
                    spot = int(progress * 4) % BAR_WIDTH
                    bar = "." * spot + "###" + "." * (BAR_WIDTH - spot)
                    bar = bar[:BAR_WIDTH]
                sys.stdout.write(f"\r[{bar}] {message or ''}".ljust(BAR_WIDTH + 40))
                sys.stdout.flush()

            result = await client.call_tool(
                "atlas_generate_video",
                {
                    "prompt": "The product turns slowly on a white table, soft studio light",
                    "image": uploaded["url"],
                    "duration": 6,
                },
                progress_callback=on_progress,
            )
            print()
            if result.is_error:
                return _failed("generate", result)
            job: dict[str, Any] = result.structured_content or {}
            print(f"Status: {job.get('status')} after {job.get('elapsed_seconds')} s")
            print(f"Prediction: {job.get('prediction_id')}")
            print(f"Video: {job.get('video_url')}")
            return 0 if job.get("status") == "completed" else 1


def _failed(step: str, result: Any) -> int:
    text = " ".join(getattr(block, "text", "") for block in result.content)
    print(f"The {step} step failed: {text}", file=sys.stderr)
    return 1


def run_demo(job_seconds: float = 6.0) -> int:
    return anyio.run(_demo, job_seconds)
