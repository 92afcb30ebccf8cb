"""Simulated prediction jobs: per-job prompt directives, status over time, the wire shape.

A job's status is a pure function of the state's clock: `created`, `queued`, `starting` and
`processing` share the first part of its duration, then it ends `completed` (or the success
name a directive chose) or `failed`. Tests can also force the outcome at once.

Outputs expire `expiration_hours` after the job was submitted (336 h = 14 days unless the
generate request's `X-AtlasCloud-Object-Expiration-Hours` said fewer), or when a test expires
them; then their URLs answer 404 while the prediction record still lists them (the real API
keeps the record and the media on separate clocks and says nothing about expiry in it).

The outputs are real, playable media (players and tests load them): `assets/sample.mp4` is
4 s of H.264 (Constrained Baseline, 320x180, 24 fps, yuv420p, faststart, no audio, 38 KB),
made once with Debian's ffmpeg:
`ffmpeg -f lavfi -i testsrc2=size=320x180:rate=24:duration=4 -c:v libx264 -profile:v baseline
-level 3.0 -pix_fmt yuv420p -preset veryslow -crf 36 -movflags +faststart -an sample.mp4`;
`assets/sample.png` is that pattern's first frame (`-frames:v 1 -pix_fmt rgb24`, 320x180).
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

logger = logging.getLogger(__name__)

JsonObject = dict[str, Any]
Failure = Literal["fail", "moderation", "fail500"]

ASSETS_DIR: Final = Path(__file__).resolve().parent / "assets"
DIRECTIVE_RE: Final = re.compile(r"\[sim:([a-z0-9_]+)(?:=([^\]\s]*))?\]", re.IGNORECASE)
MODERATION_ERROR_CODE: Final = 1039
DEFAULT_EXPIRATION_HOURS: Final = 336
OUTPUT_ASSETS: Final[dict[str, tuple[str, str]]] = {
    # model type -> (output file stem, asset file name)
    "Video": ("video", "sample.mp4"),
    "Image": ("image", "sample.png"),
    "Audio": ("audio", "sample.wav"),
}


@dataclass(frozen=True)
class Directives:
    """What `[sim:...]` markers in a request's string parameters asked for."""

    seconds: float | None = None
    never: bool = False
    failure: Failure | None = None
    success_status: str = "completed"
    output_style: str | None = None


def parse_directives(params: JsonObject) -> Directives:
    """Collect `[sim:...]` directives from every string parameter."""
    found: dict[str, Any] = {}
    for value in params.values():
        if not isinstance(value, str):
            continue
        for match in DIRECTIVE_RE.finditer(value):
            name, argument = match.group(1).lower(), match.group(2) or ""
            if name in ("fail", "moderation", "fail500"):
                found["failure"] = name
            elif name == "never":
                found["never"] = True
            elif name == "seconds":
                try:
                    found["seconds"] = max(0.0, float(argument))
                except ValueError:
                    logger.warning("ignoring [sim:seconds=%s]: not a number", argument)
            elif name == "status" and argument in ("completed", "succeeded"):
                found["success_status"] = argument
            elif name == "outputs" and argument in ("strings", "objects"):
                found["output_style"] = argument
            else:
                logger.warning("ignoring unknown directive [sim:%s]", match.group(0)[5:-1])
    return Directives(**found)


@dataclass(frozen=True)
class Outcome:
    """How a job ended (or was forced to end)."""

    succeeded: bool
    at: float
    error: str | None = None
    error_code: int | None = None
    http_500: bool = False


@dataclass
class Job:
    """One prediction as the simulator keeps it."""

    id: str
    model: str
    model_type: str
    params: JsonObject
    request_body: str
    price: float
    created_wall: float
    started: float
    duration: float
    base_url: str
    directives: Directives = field(default_factory=Directives)
    forced: Outcome | None = None
    request_id: str = ""
    expiration_hours: int = DEFAULT_EXPIRATION_HOURS
    expired_at: float | None = None  # clock time a test expired the outputs at
    base64_style: str = "data"
    """How base64 outputs are answered: `data` (a data: URL) or `raw` (no prefix)."""

    @property
    def expires_at(self) -> float:
        """Clock time at which the outputs stop being served."""
        natural = self.started + self.expiration_hours * 3600.0
        return natural if self.expired_at is None else min(natural, self.expired_at)

    def outputs_expired(self, now: float) -> bool:
        return now >= self.expires_at

    def base64_outputs(self) -> bool:
        """Image models answer `data:` URLs instead of links when asked to."""
        return self.model_type == "Image" and self.params.get("enable_base64_output") is True

    def natural_outcome(self) -> Outcome | None:
        """The outcome the job's directives script, or None if it never ends by itself."""
        if self.directives.never:
            return None
        end = self.started + self.duration
        match self.directives.failure:
            case "fail":
                return Outcome(False, end, "Generation failed: the model returned an error.")
            case "moderation":
                return Outcome(
                    False,
                    end,
                    "Content flagged by moderation: the input violates the content policy.",
                    MODERATION_ERROR_CODE,
                )
            case "fail500":
                return Outcome(False, end, "upstream inference error", http_500=True)
            case _:
                return Outcome(True, end)

    def outcome(self, now: float) -> Outcome | None:
        """The job's outcome if it has ended by `now`, else None."""
        if self.forced is not None:
            return self.forced
        natural = self.natural_outcome()
        if natural is not None and now >= natural.at:
            return natural
        return None

    def status(self, now: float) -> str:
        """The status string the API reports at `now`."""
        outcome = self.outcome(now)
        if outcome is not None:
            return self.directives.success_status if outcome.succeeded else "failed"
        fraction = (now - self.started) / self.duration if self.duration > 0 else 1.0
        if fraction < 0.05:
            return "created"
        if fraction < 0.15:
            return "queued"
        if fraction < 0.25:
            return "starting"
        return "processing"

    def output_names(self) -> list[str]:
        """File names of the job's outputs (served under /files/outputs/<id>/)."""
        stem, asset = OUTPUT_ASSETS.get(self.model_type, ("output", "sample.png"))
        extension = asset.rsplit(".", 1)[1]
        count = self.params.get("max_images", 1) if self.model_type == "Image" else 1
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            count = 1
        if count == 1:
            return [f"{stem}.{extension}"]
        return [f"{stem}-{index}.{extension}" for index in range(count)]

    def output_urls(self, base_url: str) -> list[str]:
        """The outputs as the prediction lists them: links, or data URLs for base64 output."""
        if self.base64_outputs():
            encoded = base64.b64encode(_asset_bytes(self.model_type)).decode("ascii")
            if self.base64_style != "raw":
                encoded = f"data:image/png;base64,{encoded}"
            return [encoded for _ in self.output_names()]
        return [f"{base_url}/files/outputs/{self.id}/{name}" for name in self.output_names()]

    def wall_time(self, clock_time: float) -> float:
        """Convert a time on the state's clock to unix seconds."""
        return self.created_wall + (clock_time - self.started)


def _asset_bytes(model_type: str) -> bytes:
    asset = OUTPUT_ASSETS.get(model_type, ("output", "sample.png"))[1]
    return (ASSETS_DIR / asset).read_bytes()


def iso_time(unix_seconds: float) -> str:
    """Unix seconds as an ISO 8601 UTC timestamp with milliseconds and a `Z`."""
    moment = datetime.fromtimestamp(unix_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def prediction_payload(job: Job, now: float, base_url: str, output_style: str) -> JsonObject:
    """The Prediction object that `GET /prediction/{id}` answers with."""
    outcome = job.outcome(now)
    outputs: list[Any] | None = None
    nsfw: list[bool] = []
    if outcome is not None and outcome.succeeded:
        urls = job.output_urls(base_url)
        style = job.directives.output_style or output_style
        outputs = [{"url": url} for url in urls] if style == "objects" else list(urls)
        nsfw = [False] * len(urls)
    elif outcome is not None and outcome.error_code == MODERATION_ERROR_CODE:
        nsfw = [True]
    finished = outcome.at if outcome is not None else None
    elapsed = max(0.0, (finished if finished is not None else now) - job.started)
    return {
        "id": job.id,
        "model": job.model,
        "status": job.status(now),
        "outputs": outputs,
        "error": outcome.error if outcome is not None else None,
        "error_code": outcome.error_code if outcome is not None else None,
        "has_nsfw_contents": nsfw,
        "created_at": iso_time(job.created_wall),
        "completed_at": iso_time(job.wall_time(finished)) if finished is not None else None,
        "executionTime": round(elapsed * 1000),
        "metrics": {"predict_time": round(elapsed, 3) if finished is not None else None},
        "urls": {"get": f"{base_url}/api/v1/model/prediction/{job.id}"},
        "price": job.price,
    }


@dataclass(frozen=True)
class PredictionRecord:
    """A job as tests see it, with its status computed at the time of the call."""

    id: str
    model: str
    model_type: str
    params: dict[str, Any]
    request_body: str
    status: str
    created_at: float
    completed_at: float | None
    outputs: list[str] | None
    error: str | None
    error_code: int | None
    price: float
    request_id: str = ""
    expires_at: float = 0.0
    outputs_expired: bool = False


def prediction_record(job: Job, now: float) -> PredictionRecord:
    outcome = job.outcome(now)
    return PredictionRecord(
        id=job.id,
        model=job.model,
        model_type=job.model_type,
        params=dict(job.params),
        request_body=job.request_body,
        status=job.status(now),
        created_at=job.created_wall,
        completed_at=job.wall_time(outcome.at) if outcome is not None else None,
        outputs=job.output_urls(job.base_url)
        if outcome is not None and outcome.succeeded
        else None,
        error=outcome.error if outcome is not None else None,
        error_code=outcome.error_code if outcome is not None else None,
        price=job.price,
        request_id=job.request_id,
        expires_at=job.wall_time(job.expires_at),
        outputs_expired=job.outputs_expired(now),
    )
