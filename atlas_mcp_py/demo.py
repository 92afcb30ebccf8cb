"""`atlas-mcp demo`: the whole job, seen from an IDE's side of the wire.

Starts the bundled Atlas API simulator on 127.0.0.1 (or, with `--live`, uses the real API
and the user's key), launches `atlas-mcp` as a stdio subprocess the way an IDE does,
connects the MCP SDK's client, lists the tools, uploads an image, generates a video with a
progress bar fed by the server's progress notifications, saves it (the server's
`save_to`), prints the URL and the saved path, exits 0. With `--from-text` there is no
image to start from: it generates a still first (`atlas_generate_image`, with its own
progress bar), saves it beside the video, then animates that file.

Without `--live` nothing leaves the machine: the server gets the simulator's key and
URL, never the user's, and keeps its job ledger in a temporary directory. `rich` draws
the bar; this module is imported only by the `demo` command, so serving never loads it.
Over 400 lines: one flow (check, start, call, report) that reads top to bottom.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from atlas_mcp_py.config import DEFAULT_BASE_URL, DEFAULT_MODEL
from atlas_mcp_py.demo_view import _progress_view, _View
from atlas_mcp_py.doctor import server_command
from atlas_mcp_py.errors import DemoError, MediaMismatch, is_broken_pipe
from atlas_mcp_py.files import HEAD_BYTES, media_type_for

__all__ = [
    "DEFAULT_PROMPT",
    "DEFAULT_SAVE_NAME",
    "DEFAULT_STILL_PROMPT",
    "DemoOptions",
    "run_demo",
]

DEFAULT_PROMPT = "The product turns slowly on a white table, soft studio light"


DEFAULT_STILL_PROMPT = "A blue ceramic mug on a wooden desk by a window, product photo"


STILL_NAME = "atlas-demo-still.png"
"""With --from-text: the still, saved in the video's directory (replaced on each run when
the video goes to its default place)."""


DEFAULT_SAVE_NAME = "atlas-demo.mp4"
"""Where the video goes when no --save-to is given: this file in the current directory,
replaced on each run (it is the demo's own output)."""


LIVE_MAX_WAIT_SECONDS = 900
"""How long one call waits in a live demo: the demo's client has no tool-call time limit."""


@dataclass(frozen=True)
class DemoOptions:
    """What `atlas-mcp demo` was asked to do."""

    prompt: str = DEFAULT_PROMPT
    image: Path | None = None
    """The user's own first frame; None: the bundled product photo."""
    save_to: Path | None = None
    """A file or an existing directory; None: ./atlas-demo.mp4 (replaced)."""
    live: bool = False
    yes: bool = False
    """--live without asking (needed when stdin is not a terminal)."""
    job_seconds: float = 6.0
    """How long the simulator's job runs."""
    from_text: str | None = None
    """The still's prompt: generate the first frame from text instead of using an image."""


@dataclass(frozen=True)
class _Plan:
    image: Path | None
    save_to: Path
    """A file path, or a directory the server names the file in."""
    overwrite: bool
    roots: tuple[Path, ...]
    """The directories the demo's server may read the image from and save into."""
    still: Path | None = None
    """With --from-text: where the generated still goes."""


def run_demo(options: DemoOptions | None = None) -> int:
    """Run the demo; the process exit code (0: a video was made and saved)."""
    options = options or DemoOptions()
    try:
        plan = _check(options, os.environ)
    except DemoError as exc:
        print(f"atlas-mcp demo: {exc}", file=sys.stderr)
        return 2
    try:
        return anyio.run(_demo, options, plan)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        print("Interrupted.", file=sys.stderr)
        if options.live:
            print(
                "A job already submitted keeps running at Atlas and is in your job ledger: "
                "ask your IDE to run atlas_list_jobs, or look in the Atlas console.",
                file=sys.stderr,
            )
        return 130
    except Exception as exc:  # the command's top level: one clear line
        if is_broken_pipe(exc):  # stdout's reader went away: the CLI ends quietly
            raise
        print(f"atlas-mcp demo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("Run `atlas-mcp doctor` to check the installation.", file=sys.stderr)
        return 1


def _check(options: DemoOptions, env: Mapping[str, str]) -> _Plan:
    """Refuse bad options before anything starts, with what to do instead."""
    if not options.prompt.strip():
        raise DemoError("--prompt is empty; give a sentence describing the video")
    if options.live and not (env.get("ATLASCLOUD_API_KEY") or "").strip():
        raise DemoError(
            "--live needs your Atlas API key in ATLASCLOUD_API_KEY: run "
            "`export ATLASCLOUD_API_KEY=your-key` (keys are in the Atlas Cloud console at "
            "https://www.atlascloud.ai, API keys), then run this again. Without --live the "
            "demo uses the bundled simulator and needs no key."
        )
    if options.live and not options.yes and not sys.stdin.isatty():
        raise DemoError(
            "--live makes a real, billed video and asks you to confirm first, but stdin is "
            "not a terminal; add --yes to confirm on the command line"
        )
    if options.from_text is not None and options.image is not None:
        raise DemoError("--from-text generates the first frame; drop --image (or --from-text)")
    if options.from_text is not None and not options.from_text.strip():
        raise DemoError("--from-text is empty; give a sentence describing the still")
    image = _check_image(options.image) if options.image is not None else None
    save_to, save_dir, overwrite = _check_save_to(options.save_to)
    still = None
    if options.from_text is not None:
        still = save_dir / STILL_NAME
        if still.exists() and not overwrite:
            raise DemoError(f"{still} already exists; move it, or save elsewhere")
    roots = [save_dir]
    if image is not None and image.parent != save_dir:
        roots.append(image.parent)
    return _Plan(image=image, save_to=save_to, overwrite=overwrite, roots=tuple(roots), still=still)


def _check_image(raw: Path) -> Path:
    path = Path(os.path.abspath(raw.expanduser()))
    if not path.exists():
        raise DemoError(f"--image {raw}: no such file")
    if not path.is_file():
        raise DemoError(f"--image {raw}: not a regular file")
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise DemoError(f"--image {raw}: cannot be read ({exc.strerror})") from None
    try:
        fmt, _ = media_type_for(path.name, head)
    except MediaMismatch as exc:
        raise DemoError(f"--image {raw}: {exc}") from None
    if fmt.name not in ("PNG image", "JPEG image"):
        # the demo animates it with the image-to-video default, which takes these two
        raise DemoError(
            f"--image {raw} is a {fmt.name}; give a PNG or JPEG image (what the demo's "
            f"model, {DEFAULT_MODEL}, takes)"
        )
    if path.name.startswith("."):
        raise DemoError(f"--image {raw}: hidden files are never uploaded; rename it")
    return path


def _check_save_to(raw: Path | None) -> tuple[Path, Path, bool]:
    """(destination, the directory it is in, overwrite), absolute. A directory as the
    destination: the server names the file in it."""
    if raw is None:
        return Path.cwd() / DEFAULT_SAVE_NAME, Path.cwd(), True
    text = str(raw)
    path = Path(os.path.abspath(raw.expanduser()))
    if path.is_dir() or text.endswith(("/", os.sep)):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DemoError(f"--save-to {raw}: cannot create it ({exc.strerror})") from None
        return path, path, False
    if path.exists():
        raise DemoError(
            f"--save-to {raw} already exists; name a new file, or a directory to save into"
        )
    if path.suffix.lower() not in (".mp4", ".webm"):
        path = path.with_name(path.name + ".mp4")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoError(f"--save-to {raw}: cannot create {path.parent} ({exc.strerror})") from None
    return path, path.parent, False


def _bundled_image(workdir: Path) -> Path:
    target = workdir / "product.png"
    with resources.as_file(resources.files("atlas_mcp_py") / "assets" / "product.png") as src:
        shutil.copyfile(src, target)
    return target


async def _demo(options: DemoOptions, plan: _Plan) -> int:
    with tempfile.TemporaryDirectory(prefix="atlas-demo-") as tmp:
        workdir = Path(tmp)
        image = plan.image or _bundled_image(workdir)
        roots = os.pathsep.join(str(r) for r in (workdir, *plan.roots))
        if options.live:
            return await _live(options, plan, image, roots)
        return await _simulated(options, plan, image, roots, workdir)


async def _simulated(
    options: DemoOptions, plan: _Plan, image: Path, roots: str, workdir: Path
) -> int:
    from atlas_mcp_py.simulator import SIMULATOR_API_KEY, SimulatorServer, SimulatorState

    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "atlas_mcp_py.simulator"):
        logging.getLogger(name).setLevel(logging.WARNING)
    async with SimulatorServer(SimulatorState(job_seconds=options.job_seconds)) as sim:
        print(f"Atlas API simulator on {sim.base_url} (no key, no network, nothing billed)")
        env = {
            "ATLASCLOUD_API_KEY": SIMULATOR_API_KEY,
            "ATLASCLOUD_BASE_URL": sim.base_url,
            "ATLAS_MCP_ROOTS": roots,
            "ATLAS_MCP_STATE_DIR": str(workdir / "state"),  # not the user's job ledger
            "ATLAS_MCP_LOG_LEVEL": "WARNING",
            "ATLAS_MCP_POLL_MIN": "0.5",
            "ATLAS_MCP_POLL_MAX": "1",
            "ATLAS_MCP_HEARTBEAT": "1",
        }
        return await _drive(options, plan, image, env, workdir, expected=options.job_seconds)


async def _live(options: DemoOptions, plan: _Plan, image: Path, roots: str) -> int:
    base_url = (os.environ.get("ATLASCLOUD_BASE_URL") or DEFAULT_BASE_URL).strip()
    print(
        f"LIVE: this run uses your ATLASCLOUD_API_KEY against {base_url} and makes one real "
        f"video with {DEFAULT_MODEL}. It costs money on your Atlas account."
    )
    env = {
        "ATLASCLOUD_API_KEY": os.environ["ATLASCLOUD_API_KEY"],
        "ATLASCLOUD_BASE_URL": base_url,
        "ATLAS_MCP_ROOTS": roots,
        "ATLAS_MCP_LOG_LEVEL": "WARNING",
        "ATLAS_MCP_MAX_WAIT": str(LIVE_MAX_WAIT_SECONDS),
    }
    if os.environ.get("ATLAS_MCP_STATE_DIR"):  # the billed job goes into the user's ledger
        env["ATLAS_MCP_STATE_DIR"] = os.environ["ATLAS_MCP_STATE_DIR"]
    return await _drive(options, plan, image, env, Path.cwd(), expected=None)


async def _drive(
    options: DemoOptions,
    plan: _Plan,
    image: Path,
    env: dict[str, str],
    cwd: Path,
    *,
    expected: float | None,
) -> int:
    command, args = server_command()
    print(f"Starting the MCP server as your IDE would: {' '.join([command, *args])} (stdio)")
    params = StdioServerParameters(command=command, args=args, env=env, cwd=str(cwd))
    view = _progress_view()
    try:
        return await _calls(options, plan, image, params, view, expected)
    finally:
        view.stop(False)  # a no-op once stopped; else (an error) the terminal is restored


async def _calls(
    options: DemoOptions,
    plan: _Plan,
    image: Path,
    params: StdioServerParameters,
    view: _View,
    expected: float | None,
) -> int:
    async with Client(params) as client:
        tools = await client.list_tools()
        print("Tools:", ", ".join(t.name for t in tools.tools))
        generate: dict[str, Any] = {"prompt": options.prompt, "duration": 6}
        still = _still_arguments(options, plan)
        frame = plan.still or image
        if options.live and not await _confirm_cost(client, generate, frame, options.yes, still):
            print("Nothing was sent.")
            return 1
        if still is not None:
            print(f'Generating the first frame from text: "{still["prompt"]}"')
            view.start("Still", expected)
            made = await client.call_tool(
                "atlas_generate_image", still, progress_callback=view.update
            )
            job: dict[str, Any] = made.structured_content or {}
            view.stop(not made.is_error and bool(job.get("local_path")))
            if made.is_error or not job.get("local_path"):
                _report(made, job, "still")
                return 1
            print(f"Still saved to {job['local_path']} ({job.get('size_bytes')} bytes)")
            return await _animate(client, options, plan, job["local_path"], view, expected)

        view.start("Uploading", None)
        up = await client.call_tool(
            "atlas_upload_media", {"path": str(image)}, progress_callback=view.update
        )
        view.stop(not up.is_error)
        if up.is_error:
            return _failed("The upload", up)
        uploaded = up.structured_content or {}
        print(f"Uploaded {image.name} ({uploaded.get('size_bytes')} bytes): {uploaded.get('url')}")

        return await _animate(client, options, plan, uploaded["url"], view, expected)


def _still_arguments(options: DemoOptions, plan: _Plan) -> dict[str, Any] | None:
    if options.from_text is None or plan.still is None:
        return None
    still: dict[str, Any] = {"prompt": options.from_text.strip(), "save_to": str(plan.still)}
    if plan.overwrite:
        still["overwrite"] = True
    return still


async def _animate(
    client: Client,
    options: DemoOptions,
    plan: _Plan,
    frame: str,
    view: _View,
    expected: float | None,
) -> int:
    """Generate the video from `frame` (an uploaded URL, or the still's local path)."""
    generate: dict[str, Any] = {"prompt": options.prompt, "duration": 6, "image": frame}
    generate["save_to"] = str(plan.save_to)
    if plan.overwrite:
        generate["overwrite"] = True
    print(f'Generating: "{options.prompt}"')
    view.start("Generating", expected)
    result = await client.call_tool("atlas_generate_video", generate, progress_callback=view.update)
    job: dict[str, Any] = result.structured_content or {}
    view.stop(not result.is_error and job.get("status") == "completed")
    return _report(result, job)


async def _confirm_cost(
    client: Client,
    generate: dict[str, Any],
    image: Path,
    yes: bool,
    still: dict[str, Any] | None = None,
) -> bool:
    """Show the estimated price (dry runs: nothing is sent) and ask, unless --yes."""
    costs: list[Any] = []
    what = "one video"
    if still is not None:
        dry = await client.call_tool("atlas_generate_image", {**still, "dry_run": True})
        if dry.is_error:
            _failed("The dry run", dry)
            return False
        costs.append((dry.structured_content or {}).get("estimated_cost_usd"))
        what = "one image and one video"
    dry = await client.call_tool(
        "atlas_generate_video", {**generate, "image": str(image), "dry_run": True}
    )
    if dry.is_error:
        _failed("The dry run", dry)
        return False
    costs.append((dry.structured_content or {}).get("estimated_cost_usd"))
    known = all(isinstance(c, int | float) for c in costs)
    price = f"about ${sum(costs):.2f}" if known else "a price Atlas sets"
    print(f"Estimated cost: {price} ({what}).")
    if yes:
        print("Confirmed by --yes.")
        return True
    answer = await anyio.to_thread.run_sync(input, "Make it? Type yes to continue: ")
    return answer.strip().lower() in ("y", "yes")


def _report(result: CallToolResult, job: dict[str, Any], what: str = "video") -> int:
    if result.is_error:
        return _failed(f"Generating the {what}", result)
    for note in job.get("notes") or []:
        print(f"Note: {note}")
    status = job.get("status")
    pid = job.get("prediction_id")
    if status != "completed":
        if status == "processing":
            print(f"Still running after {job.get('elapsed_seconds')} s: prediction {pid}.")
            print("It is not lost: ask your IDE to call atlas_check_status with that id.")
        else:
            print(f"The job ended {status}: {job.get('error')}", file=sys.stderr)
        return 1
    print(f"Done in {job.get('elapsed_seconds')} s (prediction {pid}).")
    url = job.get("image_url" if what == "still" else "video_url")
    print(f"{what.capitalize()} URL:  {url}")
    if not job.get("local_path"):
        print(f"The {what} was not saved (see the note above).", file=sys.stderr)
        return 1
    print(f"Saved to:   {job['local_path']} ({job.get('size_bytes')} bytes)")
    print("Next: `atlas-mcp doctor` prints the config to paste into your IDE.")
    return 0


def _failed(step: str, result: CallToolResult) -> int:
    text = " ".join(getattr(block, "text", "") for block in result.content)
    print(f"{step} failed: {text}", file=sys.stderr)
    return 1
