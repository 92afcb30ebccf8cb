"""What a model takes, read from its input schema: media parameters, frames, formats.

Atlas models name their inputs their own way: the first frame is `image`, `image_url`,
`first_frame_image` or `start_image`; the last `end_image`, `end_image_url`,
`last_image` or `tail_image`; some take an `images` list; others a `video` or an `audio`.
`model_inputs` finds them all, so that one `image` / `end_image` argument serves every
model and a local path is uploaded in any media parameter. Media parameters are found by
`x-accept` (`image/jpeg,image/png`), by name (the last word is image, video, audio...,
optionally followed by `url`) and, failing both, by a description that speaks of an
image/video/audio URL. The formats a parameter takes come from `x-accept`, else from
its description ("Format is JPG/JPEG/PNG").

Nothing here knows MCP or video: the image tool uses it the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "FIRST_FRAME_NAMES",
    "LAST_FRAME_NAMES",
    "MediaKind",
    "MediaParam",
    "ModelInputs",
    "catalog_sources",
    "fill_slots",
    "format_problem",
    "is_local",
    "local_slots",
    "media_param",
    "model_inputs",
    "slot_param",
    "slots",
    "url_format",
]

MediaKind = Literal["image", "video", "audio"]

FIRST_FRAME_NAMES = (
    "image",
    "image_url",
    "first_frame_image",
    "first_frame_image_url",
    "first_frame",
    "first_frame_url",
    "start_image",
    "start_image_url",
    "start_frame",
    "input_image",
    "init_image",
)
LAST_FRAME_NAMES = (
    "end_image",
    "end_image_url",
    "last_image",
    "last_image_url",
    "tail_image",
    "tail_image_url",
    "last_frame_image",
    "last_frame_image_url",
    "last_frame",
    "last_frame_url",
    "end_frame",
    "end_frame_image",
)

_KIND_WORDS: dict[str, MediaKind] = {
    "image": "image",
    "images": "image",
    "img": "image",
    "imgs": "image",
    "frame": "image",
    "photo": "image",
    "picture": "image",
    "video": "video",
    "videos": "video",
    "audio": "audio",
    "audios": "audio",
}
_URL_WORDS = ("url", "urls", "uri")
_FORMATS: dict[MediaKind, tuple[str, ...]] = {
    "image": ("jpg", "jpeg", "png", "webp", "gif", "bmp", "tiff", "heic", "avif"),
    "video": ("mp4", "mov", "webm", "avi", "mkv", "m4v"),
    "audio": ("mp3", "wav", "aac", "m4a", "ogg", "flac", "opus"),
}
_SAME = {"jpeg": "jpg", "jpe": "jpg", "tif": "tiff", "m4v": "mp4", "oga": "ogg"}
_MIME_FORMATS = {
    "jpeg": "jpg",
    "pjpeg": "jpg",
    "quicktime": "mov",
    "mpeg": "mp3",
    "x-wav": "wav",
    "wave": "wav",
    "x-matroska": "mkv",
    "x-msvideo": "avi",
}


def _norm(fmt: str) -> str:
    fmt = fmt.strip().lower().lstrip(".")
    return _SAME.get(fmt, fmt)


@dataclass(frozen=True)
class MediaParam:
    """One parameter that takes media (a URL, data URL, or a local path we upload)."""

    name: str
    kind: MediaKind
    many: bool = False
    """Takes a list of them."""
    formats: tuple[str, ...] = ()
    """Lower-case extensions it takes (`jpg` stands for jpeg too); empty: not stated."""
    required: bool = False
    max_mb: float | None = None
    """The largest file it takes (`x-max-size-mb`), when stated."""

    def takes(self, fmt: str) -> bool:
        return not self.formats or _norm(fmt) in self.formats

    def formats_text(self) -> str:
        return ", ".join(f.upper() for f in self.formats)


@dataclass(frozen=True)
class ModelInputs:
    """A model's media parameters and which of them are its first and last frame."""

    media: dict[str, MediaParam] = field(default_factory=dict)
    first_frame: str | None = None
    last_frame: str | None = None

    @property
    def needs_frame(self) -> bool:
        """Does it refuse a request without a first frame?"""
        first = self.media.get(self.first_frame or "")
        return first is not None and first.required

    @property
    def sources(self) -> list[str]:
        """What it makes video from: `text` (no media required), `image`, `video`."""
        required = [p for p in self.media.values() if p.required]
        out = [] if required else ["text"]
        if self.first_frame is not None:
            out.append("image")
        if any(p.kind == "video" for p in self.media.values()):
            out.append("video")
        if any(p.kind == "audio" for p in self.media.values()):
            out.append("audio")
        return out

    @property
    def frames(self) -> list[str]:
        """Its first- and last-frame parameter names, in that order (`images[0]`,
        `images[1]` for a [start, end] list)."""
        if self.first_frame is not None and self.first_frame == self.last_frame:
            return [f"{self.first_frame}[0]", f"{self.first_frame}[1]"]
        return [n for n in (self.first_frame, self.last_frame) if n is not None]


def _types(prop: Mapping[str, Any]) -> set[str]:
    raw = prop.get("type")
    types = {raw} if isinstance(raw, str) else {str(t) for t in raw or []}
    for option in (*(prop.get("anyOf") or []), *(prop.get("oneOf") or [])):
        if isinstance(option, Mapping):
            types |= _types(option)
    return types - {"null"}


def _items(prop: Mapping[str, Any]) -> Mapping[str, Any] | None:
    items = prop.get("items")
    if isinstance(items, Mapping):
        return items
    for option in (*(prop.get("anyOf") or []), *(prop.get("oneOf") or [])):
        if isinstance(option, Mapping) and isinstance(option.get("items"), Mapping):
            items = option["items"]
            return items if isinstance(items, Mapping) else None
    return None


def _accept(prop: Mapping[str, Any]) -> tuple[MediaKind | None, tuple[str, ...]]:
    """(kind, formats) from `x-accept`: "image/jpeg,image/png", "image/*", ".png,.jpg"."""
    raw = prop.get("x-accept")
    if isinstance(raw, list):
        raw = ",".join(str(r) for r in raw)
    if not isinstance(raw, str) or not raw.strip():
        return None, ()
    kind: MediaKind | None = None
    formats: list[str] = []
    for item in re.split(r"[,\s]+", raw.strip().lower()):
        major, _, minor = item.partition("/")
        if minor:
            if major in ("image", "video", "audio"):
                kind = kind or major  # type: ignore[assignment]  # checked just above
            if minor not in ("*", ""):
                formats.append(_MIME_FORMATS.get(minor, minor))
        elif item.startswith("."):
            formats.append(item)
            kind = kind or _kind_of_format(_norm(item))
    return kind, tuple(dict.fromkeys(_norm(f) for f in formats))


def _kind_of_format(fmt: str) -> MediaKind | None:
    for kind, known in _FORMATS.items():
        if fmt in known:
            return kind
    return None


def _name_kind(name: str) -> MediaKind | None:
    words = name.lower().replace("-", "_").split("_")
    while words and words[-1] in _URL_WORDS:
        words.pop()
    return _KIND_WORDS.get(words[-1]) if words else None


_TEXTUAL = re.compile(r"prompt|text|caption|webhook|callback|style|lang")
_SPEAKS_OF_URL = re.compile(r"\b(url|urls|uri|base64|data:)", re.IGNORECASE)


def _described_kind(name: str, description: str) -> MediaKind | None:
    if _TEXTUAL.search(name.lower()) or not _SPEAKS_OF_URL.search(description):
        return None
    lowered = description.lower()
    hits = [
        (lowered.find(word), kind)
        for word, kind in _KIND_WORDS.items()
        if re.search(rf"\b{word}\b", lowered)
    ]
    return min(hits)[1] if hits else None


def _described_formats(kind: MediaKind, description: str) -> tuple[str, ...]:
    lowered = description.lower()
    found = [f for f in _FORMATS[kind] if re.search(rf"(?<![a-z0-9]){f}(?![a-z0-9])", lowered)]
    return tuple(dict.fromkeys(_norm(f) for f in found))


def media_param(name: str, prop: Any, *, required: bool = False) -> MediaParam | None:
    """The media parameter `prop` describes, or None when it takes no media."""
    if not isinstance(prop, Mapping) or "enum" in prop or "const" in prop:
        return None
    types = _types(prop)
    items = _items(prop)
    many = "array" in types or (not types and items is not None)
    if types - {"string", "array"}:
        return None
    if many and items is not None and _types(items) - {"string"}:
        return None
    kind, formats = _accept(prop)
    if kind is None and items is not None:
        kind, formats = _accept(items)
    description = " ".join(
        str(p.get("description") or "") for p in (prop, items) if isinstance(p, Mapping)
    )
    kind = kind or _name_kind(name) or _described_kind(name, description)
    if kind is None:
        return None
    if not formats:
        formats = _described_formats(kind, description)
    limits = [p.get("x-max-size-mb") for p in (prop, items) if isinstance(p, Mapping)]
    max_mb = next((float(v) for v in limits if isinstance(v, int | float) and v > 0), None)
    return MediaParam(name, kind, many, formats, required, max_mb)


def model_inputs(schema: Mapping[str, Any]) -> ModelInputs:
    """The media parameters of an input schema and its first and last frame."""
    raw = schema.get("properties")
    properties: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    raw_required = schema.get("required")
    required = set(raw_required) if isinstance(raw_required, list) else set()
    media: dict[str, MediaParam] = {}
    for name, prop in properties.items():
        param = media_param(name, prop, required=name in required)
        if param is not None:
            media[name] = param
    images = {n: p for n, p in media.items() if p.kind == "image"}
    singles = {n: p for n, p in images.items() if not p.many}
    last = next((n for n in LAST_FRAME_NAMES if n in singles), None)
    first = next((n for n in FIRST_FRAME_NAMES if n in singles), None)
    if first is None:
        others = [n for n in singles if n != last]
        if len(others) == 1:
            first = others[0]
        elif not singles and len(images) == 1:
            first = next(iter(images))  # an `images` list is its only image input
            if last is None and _start_end(properties[first]):
                last = first  # `images: [start, end]` (Vidu start-end)
    return ModelInputs(media, first, last)


def _start_end(prop: Any) -> bool:
    """Is this list a [start frame, end frame] pair (two items, or described so)?"""
    if not isinstance(prop, Mapping):
        return False
    if prop.get("minItems") == 2 and prop.get("maxItems") in (2, None):
        return True
    text = str(prop.get("description") or "")
    return re.search(r"\bstart\b.*\bend\b", text, re.IGNORECASE | re.DOTALL) is not None


def catalog_sources(kinds: Iterable[str], model_id: str) -> list[str]:
    """What a model makes video from, by its catalog categories/tags and its id (when
    its schema is not at hand): `text`, `image`, `video`."""
    words = " ".join([*kinds, model_id]).lower()
    out: list[str] = []
    if re.search(r"text-to-video|\bt2v\b|[/-]t2v", words):
        out.append("text")
    if re.search(r"image-to-video|\bi2v\b|[/-]i2v|start-end-frame|reference-to-video", words):
        out.append("image")
    if re.search(r"video-to-video|\bv2v\b|video-edit|motion-control|video-extend", words):
        out.append("video")
    return out


def url_format(url: str) -> str | None:
    """The format a URL's path names by its extension (`.webp` -> webp), or None."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    match = re.search(r"\.([A-Za-z0-9]{2,5})$", path.rsplit("/", 1)[-1])
    if match is None:
        return None
    fmt = _norm(match.group(1))
    return fmt if _kind_of_format(fmt) is not None else None


def format_problem(
    param: MediaParam, kind: str | None, fmt: str | None, size: int | None = None
) -> str | None:
    """Why a file of this kind/format/size does not suit `param` (None when it does or
    cannot be told)."""
    if kind is not None and kind != param.kind:
        return f"`{param.name}` takes {_a(param.kind)}, not {_a(kind)}"
    if fmt is not None and not param.takes(fmt):
        return f"`{param.name}` takes {param.formats_text()} only, not {_norm(fmt).upper()}"
    if size is not None and param.max_mb is not None and size > param.max_mb * 1024 * 1024:
        return (
            f"`{param.name}` takes files up to {param.max_mb:g} MB, not "
            f"{size / (1024 * 1024):.1f} MB"
        )
    return None


def _a(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def is_local(value: str) -> bool:
    """A local path rather than a URL or data URL."""
    return not value.startswith(("http://", "https://", "data:")) and "://" not in value


def slots(body: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """The string values of the media parameters `names` in `body`, by slot: `image`
    for a single value, `images[1]` for an item of a list."""
    out: dict[str, str] = {}
    for name in names:
        value = body.get(name)
        if isinstance(value, str):
            out[name] = value
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    out[f"{name}[{index}]"] = item
    return out


def local_slots(body: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """The slots (see `slots`) holding a local path."""
    return {slot: value for slot, value in slots(body, names).items() if is_local(value)}


def slot_param(slot: str) -> str:
    """The parameter a slot belongs to (`images[1]` -> `images`)."""
    return slot.split("[", 1)[0]


def fill_slots(body: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """`body` with each slot's value replaced (lists copied, never changed in place)."""
    out = dict(body)
    for slot, value in values.items():
        name, _, index = slot.partition("[")
        if index:
            items = list(out[name])
            items[int(index.rstrip("]"))] = value
            out[name] = items
        else:
            out[name] = value
    return out
