"""What a generate call would send: the model resolved, the arguments checked, the price.

`make_plan` resolves the model, checks the arguments against its input schema (nothing
is sent when they fail: `Refused`) and estimates the cost from the catalog; `canonical`
gives the request's parameters and fingerprint, by which the duplicate guard knows an
identical request; `cost_summary` says when the person must confirm the price first.
`submission.Submitter` sends what a `Plan` describes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atlas_mcp_py.client import AtlasClient
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import AtlasError
from atlas_mcp_py.models import ModelInfo
from atlas_mcp_py.results import trim
from atlas_mcp_py.validation import ArgumentError, validate_arguments

__all__ = [
    "FRAME_NAMES",
    "GenerateArgs",
    "Plan",
    "Refused",
    "canonical",
    "cost_summary",
    "estimate_cost",
    "fingerprint",
    "is_local",
    "make_plan",
]

FRAME_NAMES = ("image", "end_image")


class Refused(Exception):
    """The call cannot go ahead as asked; nothing was sent. The message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class GenerateArgs:
    """The generate tool's request arguments."""

    model: str
    prompt: str
    image: str | None = None
    end_image: str | None = None
    duration: int | None = None
    resolution: str | None = None
    params: Mapping[str, Any] | None = None


@dataclass
class Plan:
    """A request that passed validation: what would be sent, and what it costs."""

    model: ModelInfo
    body: dict[str, Any]
    """The body without `model`, defaults filled; local frames still as their paths."""
    defaults: dict[str, Any]
    """Defaults of parameters the body leaves out (they make requests compare equal)."""
    estimated_cost_usd: float | None
    validated: bool
    notes: list[str] = field(default_factory=list)

    @property
    def request(self) -> dict[str, Any]:
        """The exact JSON body of the POST (local frames shown as their paths)."""
        return {"model": self.model.id, **self.body}


def is_local(value: str) -> bool:
    return not value.startswith(("http://", "https://", "data:")) and "://" not in value


def estimate_cost(model: ModelInfo, body: Mapping[str, Any]) -> float | None:
    """The catalog price for this request, when the catalog states one."""
    if model.price is None:
        return None
    unit = (model.price_unit or "").lower()
    if unit.startswith("second"):
        duration = body.get("duration")
        if isinstance(duration, str):
            try:
                duration = float(duration)
            except ValueError:
                return None
        if isinstance(duration, int | float) and math.isfinite(duration):
            return round(model.price * duration, 4)
        return None
    return model.price


def fingerprint(model: str, canonical: Mapping[str, Any]) -> str:
    """sha256 of the model and the canonical parameters (sorted keys, compact JSON)."""
    text = json.dumps(
        {"model": model, "params": canonical},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


async def make_plan(client: AtlasClient, args: GenerateArgs) -> Plan:
    """Resolve, validate and price a request. Raises `Refused` or `AtlasError`."""
    body: dict[str, Any] = dict(args.params or {})
    if "model" in body:
        raise Refused("Pass the model as the `model` argument, not inside `params`.")
    for name, value in (
        ("prompt", args.prompt),
        ("image", args.image),
        ("end_image", args.end_image),
        ("duration", args.duration),
        ("resolution", args.resolution),
    ):
        if value is not None:
            body[name] = value
    info = await client.get_model(args.model)
    if info is None:
        raise Refused(
            f"Unknown model {args.model!r}. Call atlas_list_models to see the video "
            "models. Nothing was sent."
        )
    if info.type != "video":
        raise Refused(f"{info.id} is a {info.type} model, not a video model. Nothing was sent.")
    notes: list[str] = []
    schema: dict[str, Any] | None = None
    try:
        schema = await client.get_input_schema(info.id)
    except AtlasError as exc:
        notes.append(
            f"The arguments were not validated: {info.id}'s input schema could not be "
            f"fetched ({trim(str(exc), 160)}); Atlas will judge them."
        )
    else:
        if schema is None:
            notes.append(
                f"The arguments were not validated: the catalog publishes no input "
                f"schema for {info.id}; Atlas will judge them."
            )
    defaults: dict[str, Any] = {}
    if schema is not None:
        try:
            checked = validate_arguments(schema, body, model=info.id)
        except ArgumentError as exc:
            raise Refused(exc.message) from None
        body, defaults = checked.body, checked.defaults
        if checked.filled:
            names = ", ".join(checked.filled)
            notes.append(f"Filled the required {names} with the model's default.")
    cost = estimate_cost(info, {**defaults, **body})
    return Plan(info, body, defaults, cost, schema is not None, notes)


def cost_summary(settings: Settings, plan: Plan) -> str | None:
    """The estimate and the limit, when the job needs the person's confirmation
    (above ATLAS_MCP_CONFIRM_ABOVE_USD, or priced unknown while a limit is set)."""
    limit = settings.confirm_above_usd
    cost = plan.estimated_cost_usd
    if limit is None or (cost is not None and cost <= limit):
        return None
    amount = f"about ${cost:.2f}" if cost is not None else "a price the catalog omits"
    return f"{amount} (above the ${limit:.2f} set by ATLAS_MCP_CONFIRM_ABOVE_USD)"


def canonical(plan: Plan, digests: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """The request's canonical parameters and their hash: defaults filled, local
    frames by content (`digests`: name -> sha256), so the same file is the same
    request wherever it lies and however often it was uploaded."""
    canon = {**plan.defaults, **plan.body}
    for name, digest in digests.items():
        if name in canon:
            canon[name] = f"file:sha256:{digest}"
    return canon, fingerprint(plan.model.id, canon)
