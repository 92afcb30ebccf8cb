"""What tools return (shapes, texts, links); the one place errors become tool errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    CallToolResult,
    ResourceLink,
    TextContent,
)
from pydantic import BaseModel, Field

from atlas_mcp_py.atlas import ModelInfo, billing_unit, trim
from atlas_mcp_py.errors import (
    ArgumentLimit,
    AtlasError,
    AtlasMCPError,
    JobNotCreated,
    LostSubmission,
    Refused,
)
from atlas_mcp_py.generation import JobResult, explain

__all__ = [
    "ModelList",
    "ModelSummary",
    "crash_text",
    "job_link",
    "job_text",
    "tool_error",
    "tool_errors",
    "tool_result",
]

NOT_CREATED = "The job was not created; nothing was billed. "
"""What a refused or unsent generate request's error says was (not) sent."""

logger = logging.getLogger(__name__)


DRY_RUN_BODY_CHARS = 2000


class ModelSummary(BaseModel):
    id: str
    name: str
    type: str
    price: float | None = Field(None, description="USD per price_unit")
    price_unit: str | None = None
    inputs: str | None = Field(
        None, description="makes video from: text, image (frame params), video"
    )


class ModelList(BaseModel):
    models: list[ModelSummary]
    total: int = Field(description="matches before the limit")


def summarise_model(
    model: ModelInfo, inputs: list[str] | None = None, frames: list[str] | None = None
) -> ModelSummary:
    """One listed model. `inputs` reads "text", "image (image_url, end_image_url)",
    "image (image), video": what it makes video from, with its first- and last-frame
    parameters after `image`."""
    shown = [
        f"image ({', '.join(frames)})" if kind == "image" and frames else kind
        for kind in inputs or []
    ]
    return ModelSummary(
        id=model.id,
        name=model.name,
        type=model.type,
        price=model.price,
        price_unit=_unit_text(model),
        inputs=", ".join(shown) or None,
    )


def _unit_text(model: ModelInfo) -> str | None:
    """What the price is per: the catalog's unit, else the one Atlas's own client implies
    (second for video, image for images), with a minimum billed duration."""
    if model.price is None:
        return None
    unit = billing_unit(model)[0]
    if unit is not None and model.min_duration:
        unit = f"{unit} (at least {model.min_duration:g} s)"
    return unit


def job_text(result: JobResult) -> str:
    """The short text a model reads next to the structured result."""
    pid = result.prediction_id
    took = f" after {int(result.elapsed_seconds)} s" if result.elapsed_seconds is not None else ""
    cost = result.estimated_cost_usd
    priced = f", estimated ${cost:.2f}" if cost is not None else ""
    if result.status == "completed":
        where = f" Saved to {result.local_path}." if result.local_path else ""
        what, url = (
            ("Image", result.image_url) if result.kind == "image" else ("Video", result.video_url)
        )
        at = f": {url}" if url else ""
        text = f"{what} ready{took}{at} (prediction {pid}, {result.model}{priced}).{where}"
    elif result.status == "failed":
        text = (
            f'Atlas job {pid} ({result.model}) failed{took}: "{result.error}". Nothing to '
            "download. To try again: reword the prompt (a refusal by moderation needs other "
            "words or another image), or pick another model (atlas_list_models); "
            "atlas_list_jobs shows this and earlier jobs."
        )
    elif result.status == "dry_run":
        est = f"Estimated cost: ${cost:.2f}." if cost is not None else "Cost: unknown."
        body = trim(json.dumps(result.request or {}, ensure_ascii=False), DRY_RUN_BODY_CHARS)
        text = (
            f"Dry run: nothing was sent. {est} The request body for {result.model}: {body} "
            "Call again without dry_run to generate it."
        )
    else:
        text = (
            f"Atlas job {pid} ({result.model}{priced}) is still running{took}. It is not "
            f'lost: call atlas_check_status with prediction_id "{pid}" (wait: true to '
            "wait again)."
        )
    if result.notes:
        text += " " + " ".join(result.notes)
    return text


def tool_error(
    exc: AtlasMCPError | str, *, base_url: str = "", sent: str = "", balance: str | None = None
) -> ToolError:
    """The ToolError for `exc`: an AtlasError explained (`explain`, which quotes Atlas's
    message), any other of ours by its own message, a str as it is."""
    if isinstance(exc, AtlasError):
        logger.info("tool error: %s", exc)
        return ToolError(explain(exc, base_url=base_url, sent=sent, balance=balance))
    return ToolError(exc if isinstance(exc, str) else str(exc))


@contextmanager
def tool_errors(base_url: str = "") -> Iterator[None]:
    """Run a tool's body with its refusals turned into tool errors: `Refused`,
    `LostSubmission` and `ArgumentLimit` by their own message, an `AtlasError` explained
    (`explain`, with `base_url` for a connection problem), a generate request Atlas
    refused as not created (and the balance, when that was the problem). Nothing else
    in the server raises a ToolError."""
    try:
        yield
    except (Refused, LostSubmission) as exc:
        raise ToolError(exc.message) from None
    except ArgumentLimit as exc:
        raise ToolError(str(exc)) from None
    except JobNotCreated as exc:
        balance = exc.balance
        raise tool_error(exc.error, base_url=base_url, sent=NOT_CREATED, balance=balance) from None
    except AtlasError as exc:
        raise tool_error(exc, base_url=base_url) from None


def crash_text(tool: str) -> str:
    """What a model reads when a tool failed in a way the server did not expect."""
    text = f"{tool} failed with an internal error (the details are in the server's log)."
    if tool in ("atlas_generate_video", "atlas_check_status"):
        text += (
            " A job may have started: atlas_list_jobs shows it; check there before calling "
            "atlas_generate_video again."
        )
    return text + " If it happens again, tell the person running this server."


def tool_result(result: JobResult, *, is_error: bool = False) -> CallToolResult:
    content: list[Any] = [TextContent(type="text", text=job_text(result))]
    if result.prediction_id and result.status != "dry_run":
        content.append(job_link(result.prediction_id))
    return CallToolResult(
        content=content,
        structured_content=result.dump(),
        is_error=is_error or result.status == "failed",
    )


def job_link(prediction_id: str) -> ResourceLink:
    """A link to the job's record, `atlas://jobs/{id}`: a resource this server reads back.

    Not links to the video URL or the saved file: some clients (pydantic-ai 1.x) read
    every `resource_link` with `resources/read` and hand what they read to the model,
    and a video's megabytes are no use to a model (nor a URL only the CDN serves to this
    server's `resources/read`). The text and the structured result carry both."""
    return ResourceLink(
        type="resource_link",
        uri=f"atlas://jobs/{prediction_id}",
        name=f"job {prediction_id}",
        mime_type="application/json",
    )
