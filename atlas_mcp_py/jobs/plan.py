"""What a generate call would send: the model resolved, the arguments checked, the price.

`make_plan` picks the model (the caller's; else `ATLAS_MCP_MODEL` when a frame is given,
`ATLAS_MCP_TEXT_MODEL` when not), maps the one `image` / `end_image` pair onto the
model's own frame parameters (`inputs.model_inputs`), checks the arguments against its
input schema and the formats its media parameters take (nothing is sent when they fail:
`Refused`) and estimates the cost from the catalog; `canonical` gives the request's
parameters and fingerprint, by which the duplicate guard knows an identical request;
`cost_summary` says when the person must confirm the price first.
`submit.Submitter` sends what a `Plan` describes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atlas_mcp_py.atlas import (
    FIRST_FRAME_NAMES,
    LAST_FRAME_NAMES,
    AtlasClient,
    GenerateKind,
    InputSchema,
    MediaParam,
    ModelInfo,
    ModelInputs,
    billing_unit,
    cost_estimate,
    fill_slots,
    format_problem,
    is_local,
    last_frame_models,
    local_slots,
    media_param,
    model_inputs,
    slot_param,
    slots,
    text_models,
    trim,
    url_format,
)
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import ArgumentError, AtlasError, Refused
from atlas_mcp_py.jobs.schema_check import validate_arguments

__all__ = [
    "GenerateArgs",
    "Plan",
    "canonical",
    "cost_summary",
    "fingerprint",
    "make_plan",
    "wrong_kind",
]


@dataclass(frozen=True)
class GenerateArgs:
    """The generate tool's request arguments (`model` None: the configured default)."""

    model: str | None
    prompt: str | None
    """None: no prompt (some models take none, e.g. kwaivgi/kling-effects)."""
    image: str | None = None
    end_image: str | None = None
    duration: int | None = None
    resolution: str | None = None
    params: Mapping[str, Any] | None = None
    kind: GenerateKind = "video"
    """What the tool makes: its generate endpoint, and the catalog type its model must have."""


@dataclass
class Plan:
    """A request that passed validation: what would be sent, and what it costs."""

    model: ModelInfo
    body: dict[str, Any]
    """The body without `model`, defaults filled; local files still as their paths."""
    defaults: dict[str, Any]
    """Defaults of parameters the body leaves out (they make requests compare equal)."""
    estimated_cost_usd: float | None
    checked: bool
    """Were the arguments checked against the model's schema?"""
    notes: list[str] = field(default_factory=list)
    media: dict[str, MediaParam] = field(
        default_factory=lambda: {n: MediaParam(n, "image") for n in ("image", "end_image")}
    )
    """The model's media parameters: local paths in them are uploaded before sending."""
    aliases: dict[str, str] = field(default_factory=dict)
    """The model's frame parameter -> the argument that filled it (`image_url` -> `image`)."""
    kind: GenerateKind = "video"
    """What the request makes: its generate endpoint (video or image)."""
    cost_basis: str | None = None
    """How the estimate was counted (`$0.1 per second x 10 s ...`), for the person."""

    @property
    def request(self) -> dict[str, Any]:
        """The exact JSON body of the POST (local files shown as their paths)."""
        return {"model": self.model.id, **self.body}

    @property
    def local(self) -> dict[str, str]:
        """The local paths to upload, by slot (`image`, `images[0]`)."""
        return local_slots(self.body, self.media)

    def with_urls(self, urls: Mapping[str, str]) -> dict[str, Any]:
        """The body with each local slot replaced by its uploaded URL."""
        return fill_slots(self.body, urls)

    def param_of(self, slot: str) -> MediaParam:
        return self.media[slot_param(slot)]

    def label(self, slot: str) -> str:
        """How messages name a slot: `end_image` (as `end_image_url`) when mapped."""
        given = self.aliases.get(slot_param(slot))
        return slot if given is None or given == slot else f"{given}` (as `{slot}"


def fingerprint(model: str, canonical: Mapping[str, Any]) -> str:
    """sha256 of the model and the canonical parameters (sorted keys, compact JSON)."""
    text = json.dumps(
        {"model": model, "params": canonical},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _route(args: GenerateArgs, settings: Settings) -> tuple[str, str | None]:
    """The model id, and a note when the caller named none."""
    if args.model:
        return args.model, None
    if args.kind == "image":
        return settings.image_model, None  # one default, no routing: no note needed
    params = args.params or {}
    framed = bool(args.image or args.end_image) or any(
        n in params for n in (*FIRST_FRAME_NAMES, *LAST_FRAME_NAMES)
    )
    if framed:
        return settings.model, f"No model named: used {settings.model} (ATLAS_MCP_MODEL)."
    return settings.text_model, (
        f"No model named and no image given: used the text-to-video model "
        f"{settings.text_model} (ATLAS_MCP_TEXT_MODEL)."
    )


def _unchecked_inputs(params: Mapping[str, Any]) -> ModelInputs:
    """Without a schema: the frames under their common names, and the parameters whose
    names say they take media (so that local paths in them are still uploaded)."""
    media = {n: MediaParam(n, "image") for n in ("image", "end_image")}
    for name, value in params.items():
        param = media_param(name, {"type": "array" if isinstance(value, list) else "string"})
        if param is not None:
            media.setdefault(name, param)
    return ModelInputs(media, "image", "end_image")


def _required(schema: Mapping[str, Any]) -> list[Any]:
    required = schema.get("required")
    return required if isinstance(required, list) else []


def _frames_text(inputs: ModelInputs) -> str:
    return ", ".join(f"`{n}`" for n in inputs.frames) or "none"


async def _map_frames(
    client: AtlasClient,
    info: ModelInfo,
    inputs: ModelInputs,
    args: GenerateArgs,
    body: dict[str, Any],
) -> dict[str, str]:
    """Put `image` / `end_image` under the model's own frame parameters; returns which
    parameter each went to."""
    aliases: dict[str, str] = {}
    for value, target, which in (
        (args.image, inputs.first_frame, "first"),
        (args.end_image, inputs.last_frame, "last"),
    ):
        if value is None:
            continue
        arg = "image" if which == "first" else "end_image"
        if target is None:
            if which == "first":
                raise Refused(
                    f"{info.id} takes no first frame (it makes video from "
                    f"{' and '.join(inputs.sources) or 'text'}), so `image` cannot be used. "
                    "Drop it, or pick an image-to-video model (atlas_list_models shows "
                    "each model's frames). Nothing was sent."
                )
            others = await last_frame_models(client, info.id)
            raise Refused(
                f"{info.id} takes no last frame (its frame parameters: "
                f"{_frames_text(inputs)}), so `end_image` cannot be used. Drop it, or pick "
                f"a model with a last frame (atlas_list_models shows each model's frames)."
                f"{others} Nothing was sent."
            )
        if which == "last" and target == inputs.first_frame:
            if args.image is None:
                raise Refused(
                    f"{info.id} takes its frames as one list, `{target}: [start, end]`: "
                    "give `image` (the start) with `end_image`. Nothing was sent."
                )
            body[target] = [args.image, value]  # the start frame went there just before
            continue
        if target in body and target != arg:
            raise Refused(
                f"The {which} frame is given twice: as `{arg}` and as params.{target}. "
                "Give it once. Nothing was sent."
            )
        param = inputs.media.get(target)
        body[target] = [value] if param is not None and param.many else value
        aliases[target] = arg
    return aliases


def _check_formats(
    info: ModelInfo, media: Mapping[str, MediaParam], body: Mapping[str, Any]
) -> None:
    """Refuse a URL whose extension (or a data URL whose type) the parameter does not take."""
    for slot, value in slots(body, media).items():
        if is_local(value):
            continue  # judged by content once opened
        if value.startswith("data:"):
            mime = value[5:].split(";", 1)[0].split(",", 1)[0].lower()
            kind, _, subtype = mime.partition("/")
            problem = format_problem(media[slot_param(slot)], kind or None, subtype or None)
        else:
            problem = format_problem(media[slot_param(slot)], None, url_format(value))
        if problem is not None:
            raise Refused(f"{info.id}: {problem}. Nothing was sent.")


async def make_plan(client: AtlasClient, args: GenerateArgs, settings: Settings) -> Plan:
    """Resolve, map, validate and price a request. Raises `Refused` or `AtlasError`.
    The checks run in the order a refusal must be found, before any cost."""
    params: dict[str, Any] = dict(args.params or {})
    if "model" in params:
        raise Refused("Pass the model as the `model` argument, not inside `params`.")
    info, chosen = await _resolve_model(client, args, settings)
    notes: list[str] = [chosen] if chosen else []
    schema = await _input_schema(client, info, notes)
    inputs = model_inputs(schema.schema) if schema is not None else _unchecked_inputs(params)
    body = params
    if args.prompt is not None:
        body["prompt"] = args.prompt
    elif "prompt" not in body and schema is not None and "prompt" in _required(schema.schema):
        what = "image" if args.kind == "image" else "video"
        raise Refused(
            f"{info.id} needs a prompt: `prompt` is required (text: what the {what} shows) "
            "and this call gives none, so nothing was sent."
        )
    aliases = await _map_frames(client, info, inputs, args, body)
    for name, value in (("duration", args.duration), ("resolution", args.resolution)):
        if value is not None:
            body[name] = value
    if (
        schema is not None
        and inputs.needs_frame
        and body.get(inputs.first_frame or "") in (None, "", [])
    ):
        raise Refused(await _frame_required(client, info, inputs, args.kind, settings))
    defaults: dict[str, Any] = {}
    if schema is not None:
        try:
            checked = validate_arguments(
                schema.schema,
                body,
                model=info.id,
                hidden=schema.hidden,
                never_fill=inputs.media,
            )
        except ArgumentError as exc:
            raise Refused(exc.message) from None
        body, defaults = checked.body, checked.defaults
        if checked.filled:
            names = ", ".join(checked.filled)
            notes.append(f"Filled the required {names} with the model's default.")
        if checked.unchecked:
            names = ", ".join(checked.unchecked)
            notes.append(
                f"Not checked here: the pattern the schema gives {names} (one this server "
                "cannot run in bounded time); Atlas judges it."
            )
    _check_formats(info, inputs.media, body)
    estimate = cost_estimate(info, {**defaults, **body})
    if estimate is not None and billing_unit(info)[0] not in (None, "generation", "request"):
        notes.append(f"Estimated cost: {estimate.basis}.")  # counted, not a flat price
    return Plan(
        info,
        body,
        defaults,
        estimate.usd if estimate is not None else None,
        schema is not None,
        notes,
        dict(inputs.media),
        aliases,
        args.kind,
        estimate.basis if estimate is not None else None,
    )


async def _resolve_model(
    client: AtlasClient, args: GenerateArgs, settings: Settings
) -> tuple[ModelInfo, str | None]:
    """The model of the call, of the right kind, and the note saying it was chosen (when
    the call named none); refused when Atlas's catalog does not have it."""
    model_id, chosen = _route(args, settings)
    info = await client.get_model(model_id)
    if info is None:
        if chosen is not None:
            var = "ATLAS_MCP_MODEL" if model_id == settings.model else "ATLAS_MCP_TEXT_MODEL"
            if args.kind == "image":
                var = "ATLAS_MCP_IMAGE_MODEL"
            raise Refused(
                f"The default model {model_id} ({var}) is not in Atlas's catalog. Pass "
                f"`model` (atlas_list_models lists them) or set {var}. Nothing was sent."
            )
        raise Refused(
            f"Unknown model {model_id!r}. Call atlas_list_models to see the {args.kind} "
            "models. Nothing was sent."
        )
    if info.type != args.kind:
        raise Refused(wrong_kind(info, args.kind))
    return info, chosen


async def _input_schema(
    client: AtlasClient, info: ModelInfo, notes: list[str]
) -> InputSchema | None:
    """The model's input schema, or None (with a note: Atlas will judge the arguments)."""
    try:
        schema = await client.get_input_schema(info.id)
    except AtlasError as exc:
        notes.append(
            f"The arguments were not checked: {info.id}'s input schema could not be "
            f"read ({trim(str(exc), 160)}); Atlas will judge them."
        )
        return None
    if schema is None:
        notes.append(
            f"The arguments were not checked: the catalog publishes no input "
            f"schema for {info.id}; Atlas will judge them."
        )
    return schema


async def _frame_required(
    client: AtlasClient, info: ModelInfo, inputs: ModelInputs, kind: str, settings: Settings
) -> str:
    """The refusal of a call without the input image its model requires."""
    if kind == "image":
        return (
            f"{info.id} edits an image: its input image (`{inputs.first_frame}`) is "
            "required and this call gives none. Pass `image` (an https URL or a local "
            f"file), or use a text-to-image model such as {settings.image_model}. "
            "Nothing was sent."
        )
    return (
        f"{info.id} makes video from an image: its first frame (`{inputs.first_frame}`) "
        "is required and this call gives none. Pass `image` (an https URL or a local "
        f"file), or use a text-to-video model: {await text_models(client)}. "
        "Nothing was sent."
    )


def wrong_kind(info: ModelInfo, kind: str) -> str:
    """The refusal of a model of another type, naming the tool that takes it."""
    tool = {"video": "atlas_generate_video", "image": "atlas_generate_image"}.get(info.type)
    use = f" (use {tool}, or" if tool else " ("
    return (
        f"{info.id} is a {info.type} model, not a {kind} model{use} atlas_list_models "
        f'with type "{kind}" to pick one). Nothing was sent.'
    )


def cost_summary(settings: Settings, plan: Plan) -> str | None:
    """The estimate and the limit, when the job needs the person's confirmation
    (above ATLAS_MCP_CONFIRM_ABOVE_USD, or priced unknown while a limit is set)."""
    limit = settings.confirm_above_usd
    cost = plan.estimated_cost_usd
    if limit is None or (cost is not None and cost <= limit):
        return None
    amount = f"about ${cost:.2f}" if cost is not None else "a price the catalog omits"
    if cost is None and plan.cost_basis:
        amount = "a price that cannot be estimated"
    basis = f"; {plan.cost_basis}" if plan.cost_basis else ""
    return f"{amount} (above the ${limit:.2f} set by ATLAS_MCP_CONFIRM_ABOVE_USD{basis})"


def canonical(plan: Plan, digests: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """The request's canonical parameters and their hash: defaults filled, local
    files by content (`digests`: slot -> sha256), so the same file is the same
    request wherever it lies and however often it was uploaded."""
    body = fill_slots(plan.body, {s: f"file:sha256:{d}" for s, d in digests.items()})
    canon = {**plan.defaults, **body}
    return canon, fingerprint(plan.model.id, canon)
