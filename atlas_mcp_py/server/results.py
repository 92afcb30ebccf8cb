"""What tools return (shapes, texts, links); the one place errors become tool errors."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    CallToolResult,
    ResourceLink,
    TextContent,
)
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from atlas_mcp_py.atlas.models import ModelInfo, Prediction, unix_seconds
from atlas_mcp_py.atlas.sanitize import trim
from atlas_mcp_py.errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    AtlasError,
    AtlasMCPError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    InsufficientBalanceError,
    ModelUnavailableError,
    NotFoundError,
    OutcomeUnknownError,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
    UploadSourceError,
    WrongBaseURLError,
)
from atlas_mcp_py.files.saves import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
)

__all__ = [
    "JobResult",
    "ModelList",
    "ModelSummary",
    "crash_text",
    "elapsed_since",
    "explain",
    "file_link",
    "job_result",
    "job_text",
    "tool_error",
]

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


def _absent_when_null(schema: dict[str, Any]) -> None:
    """A field the dump leaves out when null needs no `null` in its schema (and a single
    type is what every client's schema dialect takes): `X | None` reads as `X`."""
    for name, prop in (schema.get("properties") or {}).items():
        variants = prop.get("anyOf") if isinstance(prop, dict) else None
        if isinstance(variants, list) and {"type": "null"} in variants:
            others = [v for v in variants if v != {"type": "null"}]
            if len(others) == 1:
                rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
                schema["properties"][name] = {**others[0], **rest}


class JobResult(BaseModel):
    """A job as the generate and check tools return it. Fields that are null are absent
    from the structured result (`dump`), so its schema declares none as nullable."""

    model_config = ConfigDict(json_schema_extra=_absent_when_null)

    prediction_id: str | None = None
    model: str
    status: Literal["processing", "completed", "failed", "dry_run"]
    video_url: str | None = None
    image_url: str | None = None
    """Image jobs (instead of video_url): the first output URL."""
    outputs: list[str] = []
    error: str | None = None
    elapsed_seconds: float | None = None
    local_path: str | None = None
    size_bytes: int | None = None
    estimated_cost_usd: float | None = None
    request: dict[str, Any] | None = Field(None, description="dry_run: the exact body")
    notes: list[str] = []
    _kind: str = PrivateAttr("video")

    @property
    def kind(self) -> str:
        """What the job makes ("video" or "image"); not part of the wire shape."""
        return self._kind

    def as_kind(self, kind: str) -> JobResult:
        """This result for a job of `kind` (an image job's URL is `image_url`)."""
        self._kind = kind
        if kind == "image" and self.video_url is not None and self.image_url is None:
            self.image_url, self.video_url = self.video_url, None
        return self

    def dump(self) -> dict[str, Any]:
        """The structured result: JSON types, null fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


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
        price_unit=model.price_unit,
        inputs=", ".join(shown) or None,
    )


def elapsed_since(created_at: str | None, now: datetime | None = None) -> float | None:
    """Seconds since an ISO-8601 or unix-seconds timestamp from Atlas, if parseable."""
    when = unix_seconds(created_at)
    if when is None:
        return None
    seconds = (now or datetime.now(UTC)).timestamp() - when
    return round(seconds, 1) if seconds >= 0 else None


def job_result(
    prediction: Prediction,
    *,
    model: str,
    elapsed: float | None,
    notes: list[str] | None = None,
    kind: str = "video",
) -> JobResult:
    state = prediction.state
    error = None
    if state == "failed":
        reason = prediction.error or f"the job ended with status {prediction.status!r}"
        if prediction.error_code:
            reason = f"{reason} (code {prediction.error_code})"
        error = trim(reason)
    return JobResult(
        prediction_id=prediction.id,
        model=prediction.model or model,
        status=state,
        video_url=prediction.outputs[0] if state == "completed" and prediction.outputs else None,
        outputs=prediction.outputs if state == "completed" else [],
        error=error,
        elapsed_seconds=None if elapsed is None else round(elapsed, 1),
        notes=list(notes or []),
    ).as_kind(kind)


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


def explain(
    exc: AtlasError, *, base_url: str = "", sent: str = "", balance: str | None = None
) -> str:
    """A message for the model: what happened and what to do next, with Atlas's request
    id when there is one (support asks for it). Never carries the key. `balance` is the
    account's available balance, when it could be read."""
    text = _explain(exc, base_url, sent, balance)
    request_id = getattr(exc, "request_id", None)
    if request_id and isinstance(exc, APIStatusError):  # OutcomeUnknownError's str has it
        text += f" (Atlas request id: {request_id})"
    return text


def _explain(exc: AtlasError, base_url: str, sent: str, balance: str | None) -> str:
    """The text for each kind of AtlasError (over 60 lines: one branch per kind, side by side)."""
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, WrongBaseURLError):
        return (
            f"Atlas answered 401 on a path that needs no key or cannot be wrong with a good "
            f"one: ATLASCLOUD_BASE_URL ({base_url or 'as set'}) is probably wrong. Set it to "
            "the API root, https://api.atlascloud.ai (without /api/v1), or unset it, then "
            "restart the server. Nothing was billed."
        )
    if isinstance(exc, ModelUnavailableError):
        return (
            f"Atlas answered 404 to the generate request: the model is not available to this "
            f"account ({trim(exc.message, 200)}). Check the id with atlas_list_models, or the "
            "model's access in the Atlas console. Nothing was billed."
        )
    if isinstance(exc, AuthenticationError):
        return (
            f"Atlas refused the API key ({exc.status}: {trim(exc.message, 200)}). Check that "
            "ATLASCLOUD_API_KEY holds a valid key with access to this model, then restart the "
            "server. Nothing was billed."
        )
    if isinstance(exc, InsufficientBalanceError):
        has = f" (available: {balance})" if balance else ""
        return (
            f"Atlas says the account balance is too low (402){has}. Top up at "
            "https://www.atlascloud.ai (billing), then try again. Nothing was generated."
        )
    if isinstance(exc, BadRequestError):
        return (
            f"Atlas rejected the request ({exc.status}): {trim(exc.message, 300)}. Fix the "
            "argument it names (atlas_list_models shows models) and call again; nothing was billed."
        )
    if isinstance(exc, NotFoundError):
        return (
            f"Atlas does not know that id (404: {trim(exc.message, 200)}). Check the id: "
            "atlas_list_jobs lists the jobs started here with their prediction_id, and a "
            "generate call's answer names its own."
        )
    if isinstance(exc, PayloadTooLargeError):
        return (
            "Atlas refused the upload as too large (413; its limit is 50 MB). Use a smaller file."
        )
    if isinstance(exc, RateLimitError):
        wait = f" in {exc.retry_after:.0f} s" if exc.retry_after is not None else " shortly"
        return f"Atlas is rate-limiting requests (429). {sent}Try again{wait}."
    if isinstance(exc, ServerError):
        fault = f"Atlas had a server fault ({exc.status}: {trim(exc.message, 200)})."
        return f"{fault} {sent}Try again later."
    if isinstance(exc, APIStatusError):
        return f"Atlas answered {exc.status}: {trim(exc.message, 300)}."
    if isinstance(exc, OutcomeUnknownError) and not exc.billed:
        again = " and calling again is safe" if exc.retry_safe else ""
        return (
            f"{trim(str(exc), 300)}. This was an upload: uploads are free and create no "
            f"job, so nothing was billed{again}."
        )
    if isinstance(exc, OutcomeUnknownError):
        return (
            f"{trim(str(exc), 300)}. The request may have reached Atlas and may be billed, "
            "so it was NOT resent. Do not simply call again: the job may already exist."
        )
    if isinstance(exc, APIConnectionError):
        cause = str(exc)
        if "SSL_CERT_FILE" in cause:  # the cause carries its fix
            fix = ""
        elif "name resolution failed" in cause:
            fix = " Check the host in ATLASCLOUD_BASE_URL and this machine's DNS or proxy."
        elif "connection refused" in cause:
            fix = " Check the port in ATLASCLOUD_BASE_URL and that the service is running."
        else:
            fix = " Check the network (behind a proxy, set HTTPS_PROXY)."
        return f"Could not reach Atlas at {base_url}: {trim(cause, 400)}. Nothing was sent.{fix}"
    if isinstance(exc, UploadSourceError):
        return (
            f"{trim(str(exc), 300)}. Atlas stored nothing usable; upload again once the file "
            "is complete and no longer being written."
        )
    if isinstance(exc, APIResponseError):
        return f"Atlas sent an answer that could not be understood: {trim(str(exc), 300)}."
    return trim(str(exc), 300)


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
    if result.video_url:
        content.append(
            ResourceLink(
                type="resource_link",
                uri=result.video_url,
                name=f"{result.prediction_id}.mp4",
                mime_type="video/mp4",
            )
        )
    if result.image_url:
        content.append(image_link(result.image_url, result.prediction_id))
    saved = file_link(result)
    if saved is not None:
        content.append(saved)
    return CallToolResult(
        content=content,
        structured_content=result.dump(),
        is_error=is_error or result.status == "failed",
    )


def image_link(url: str, prediction_id: str | None) -> ResourceLink:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    mime = IMAGE_EXTENSIONS.get(".jpg" if suffix == ".jpeg" else suffix, "image/png")
    extension = next(e for e, m in IMAGE_EXTENSIONS.items() if m == mime)
    name = f"{prediction_id or 'image'}{extension}"
    return ResourceLink(type="resource_link", uri=url, name=name, mime_type=mime)


def file_link(result: JobResult) -> ResourceLink | None:
    """A resource link to the saved video (or image), when there is one."""
    if not result.local_path:
        return None
    path = Path(result.local_path)
    suffix = path.suffix.lower()
    return ResourceLink(
        type="resource_link",
        uri=path.as_uri(),
        name=os.path.basename(path),
        mime_type=IMAGE_EXTENSIONS.get(suffix) or VIDEO_EXTENSIONS.get(suffix, "video/mp4"),
        size=result.size_bytes,
    )
