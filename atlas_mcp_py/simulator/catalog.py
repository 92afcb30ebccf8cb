"""The simulator's model catalog: ids, prices and input schemas of a few realistic models.

Each model's input schema is a JSON Schema object, published inside an OpenAPI document at
``/schemas/<id>.json`` and used by the generate endpoints to validate requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

JsonObject = dict[str, Any]

GENERATE_PATHS: Final[dict[str, str]] = {
    "Video": "/api/v1/model/generateVideo",
    "Image": "/api/v1/model/generateImage",
    "Audio": "/api/v1/model/generateAudio",
}


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry."""

    id: str
    type: str
    display_name: str
    profile: str
    organization: str
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    base_price: float
    unit: str
    properties: JsonObject
    required: tuple[str, ...]
    origin_price: float | None = None
    display_console: bool = True
    extra_schema: JsonObject = field(default_factory=dict)

    def input_schema(self) -> JsonObject:
        """The JSON Schema of the model's input, `model` included among the properties."""
        properties: JsonObject = {
            "model": {
                "type": "string",
                "description": "The model id.",
                "default": self.id,
                "enum": [self.id],
            },
            **self.properties,
        }
        return {
            "type": "object",
            "title": "Input",
            "properties": properties,
            "required": ["model", *self.required],
            "x-order-properties": list(properties),
            **self.extra_schema,
        }

    def price_for(self, params: JsonObject) -> float:
        """The price in USD of one request with these parameters."""
        multiplier = 1.0
        if self.unit == "second":
            duration = params.get("duration", self.properties.get("duration", {}).get("default", 5))
            multiplier = _as_number(duration, 5.0)
        elif self.unit == "image":
            multiplier = _as_number(params.get("num_images", 1), 1.0)
        return round(self.base_price * multiplier, 6)


def _as_number(value: object, fallback: float) -> float:
    if isinstance(value, bool):
        return fallback
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return fallback
    return fallback


def _image_prop(description: str) -> JsonObject:
    return {
        "type": "string",
        "description": description,
        "x-accept": "image/jpeg,image/png,image/webp",
    }


_PROMPT: Final[JsonObject] = {
    "type": "string",
    "maxLength": 2000,
    "description": "Text prompt describing the video: subject, motion, camera, style.",
}

MODELS: Final[tuple[ModelSpec, ...]] = (
    ModelSpec(
        id="minimax/hailuo-02/fast",
        type="Video",
        display_name="Hailuo-02 Fast",
        profile="A fast version of Hailuo 02: 6 s or 10 s videos at 512P.",
        organization="MiniMax",
        tags=("IMAGE-TO-VIDEO", "HOT"),
        categories=("Video Generation", "Hailuo Video Models"),
        base_price=0.1,
        origin_price=0.12,
        unit="generation",
        properties={
            "prompt": _PROMPT,
            "image": _image_prop(
                "First frame: URL or data URL. JPG/PNG/WebP, at most 20 MB, "
                "short side over 300 px, aspect ratio between 2:5 and 5:2."
            ),
            "end_image": _image_prop("Optional last frame, same rules as image."),
            "duration": {
                "type": "integer",
                "enum": [6, 10],
                "default": 6,
                "description": "Length of the video in seconds.",
            },
            "resolution": {
                "type": "string",
                "enum": ["512P"],
                "default": "512P",
                "description": "Output resolution.",
            },
            "enable_prompt_expansion": {
                "type": "boolean",
                "default": True,
                "description": "Let the model rewrite the prompt for better results.",
            },
        },
        required=("prompt",),
    ),
    ModelSpec(
        id="bytedance/seedance-v1-pro/i2v",
        type="Video",
        display_name="Seedance V1 Pro Image-to-Video",
        profile="Cinematic image-to-video with stable motion, billed per second.",
        organization="ByteDance",
        tags=("IMAGE-TO-VIDEO",),
        categories=("Video Generation", "Seedance Models"),
        base_price=0.06,
        unit="second",
        properties={
            "prompt": {**_PROMPT, "description": "Optional motion description."},
            "image": _image_prop("First frame: URL or data URL."),
            "resolution": {
                "type": "string",
                "enum": ["480p", "720p", "1080p"],
                "default": "720p",
                "description": "Output resolution.",
            },
            "duration": {
                "type": "integer",
                "minimum": 5,
                "maximum": 10,
                "default": 5,
                "description": "Length of the video in seconds (5 to 10).",
            },
            "camera_fixed": {
                "type": "boolean",
                "default": False,
                "description": "Keep the camera still.",
            },
            "seed": {
                "anyOf": [
                    {"type": "integer", "minimum": -1, "maximum": 2147483647},
                    {"type": "null"},
                ],
                "default": None,
                "description": "Random seed; -1 or null for a random one.",
            },
        },
        required=("image",),
    ),
    ModelSpec(
        id="google/veo3-fast/t2v",
        type="Video",
        display_name="Veo 3 Fast Text-to-Video",
        profile="Text-to-video with native audio. No image input.",
        organization="Google",
        tags=("TEXT-TO-VIDEO", "AUDIO"),
        categories=("Video Generation", "Veo Models"),
        base_price=1.2,
        origin_price=1.6,
        unit="generation",
        properties={
            "prompt": _PROMPT,
            "negative_prompt": {"type": "string", "description": "What to avoid."},
            "aspect_ratio": {
                "type": "string",
                "enum": ["16:9", "9:16"],
                "default": "16:9",
                "description": "Frame aspect ratio.",
            },
            "duration": {"type": "integer", "enum": [8], "default": 8, "description": "Seconds."},
            "generate_audio": {
                "type": "boolean",
                "default": True,
                "description": "Generate a soundtrack with the video.",
            },
        },
        required=("prompt",),
    ),
    ModelSpec(
        id="kwaivgi/kling-v2.1-i2v-standard",
        type="Video",
        display_name="Kling V2.1 Image-to-Video Standard",
        profile="Image-to-video at 720p; duration is a string enum.",
        organization="Kuaishou",
        tags=("IMAGE-TO-VIDEO",),
        categories=("Video Generation", "Kling Models"),
        base_price=0.25,
        unit="generation",
        properties={
            "image": _image_prop("First frame: URL or data URL."),
            "prompt": {**_PROMPT, "maxLength": 2500},
            "negative_prompt": {"type": "string", "maxLength": 2500},
            "duration": {"type": "string", "enum": ["5", "10"], "default": "5"},
            "guidance_scale": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "default": 0.5,
                "description": "How closely to follow the prompt.",
            },
        },
        required=("image", "prompt"),
    ),
    ModelSpec(
        id="atlascloud/internal-canary-video",
        type="Video",
        display_name="Internal canary",
        profile="Hidden from the console.",
        organization="Atlas Cloud",
        tags=(),
        categories=("Video Generation",),
        base_price=0.01,
        unit="generation",
        properties={"prompt": _PROMPT},
        required=("prompt",),
        display_console=False,
    ),
    ModelSpec(
        id="black-forest-labs/flux-schnell",
        type="Image",
        display_name="FLUX.1 [schnell]",
        profile="Fast text-to-image.",
        organization="Black Forest Labs",
        tags=("TEXT-TO-IMAGE",),
        categories=("Image Generation",),
        base_price=0.003,
        unit="image",
        properties={
            "prompt": {"type": "string", "description": "What to draw."},
            "size": {
                "type": "string",
                "enum": ["512*512", "1024*1024", "1024*768", "768*1024"],
                "default": "1024*1024",
            },
            "num_images": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
            "seed": {"type": "integer", "minimum": -1, "default": -1},
        },
        required=("prompt",),
    ),
    ModelSpec(
        id="google/imagen4",
        type="Image",
        display_name="Imagen 4",
        profile="High-fidelity text-to-image.",
        organization="Google",
        tags=("TEXT-TO-IMAGE", "NEW"),
        categories=("Image Generation",),
        base_price=0.04,
        unit="image",
        properties={
            "prompt": {"type": "string"},
            "aspect_ratio": {"type": "string", "enum": ["1:1", "16:9", "9:16", "4:3", "3:4"]},
            "num_images": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
        },
        required=("prompt",),
    ),
    ModelSpec(
        id="minimax/speech-02-hd",
        type="Audio",
        display_name="Speech-02 HD",
        profile="Text-to-speech with expressive voices.",
        organization="MiniMax",
        tags=("TEXT-TO-SPEECH",),
        categories=("Audio Generation",),
        base_price=0.05,
        unit="generation",
        properties={
            "text": {"type": "string", "maxLength": 5000, "description": "Text to speak."},
            "voice_id": {
                "type": "string",
                "enum": ["Wise_Woman", "Friendly_Person", "Deep_Voice_Man"],
                "default": "Friendly_Person",
            },
            "speed": {"type": "number", "minimum": 0.5, "maximum": 2, "default": 1},
        },
        required=("text",),
    ),
    ModelSpec(
        id="deepseek-ai/deepseek-v3",
        type="Text",
        display_name="DeepSeek V3",
        profile="Chat model; served by the OpenAI-compatible /v1 API, not the media API.",
        organization="DeepSeek",
        tags=("LLM",),
        categories=("Text Generation",),
        base_price=0.28,
        unit="1M tokens",
        properties={"prompt": {"type": "string"}},
        required=("prompt",),
    ),
)


def model_payload(spec: ModelSpec, base_url: str) -> JsonObject:
    """The catalog entry as `GET /api/v1/models` lists it."""
    origin = spec.origin_price if spec.origin_price is not None else spec.base_price
    discount = round(spec.base_price / origin, 2) if origin else 1
    return {
        "model": spec.id,
        "type": spec.type,
        "displayName": spec.display_name,
        "profile": spec.profile,
        "tags": list(spec.tags),
        "categories": list(spec.categories),
        "organization": spec.organization,
        "price": {
            "actual": {"base_price": f"{spec.base_price:g}", "unit": spec.unit},
            "origin": {"base_price": f"{origin:g}", "unit": spec.unit},
            "discount": f"{discount:g}",
        },
        "schema": f"{base_url}/schemas/{spec.id}.json",
        "readme": f"{base_url}/readmes/{spec.id}.md",
        "display_console": spec.display_console,
    }


def openapi_document(spec: ModelSpec) -> JsonObject:
    """The OpenAPI document served at the model's `schema` URL."""
    path = GENERATE_PATHS.get(spec.type, "/v1/chat/completions")
    return {
        "openapi": "3.0.1",
        "info": {"title": spec.display_name, "version": "1.0.0", "description": spec.profile},
        "paths": {
            path: {
                "post": {
                    "summary": f"Run {spec.id}",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Input"},
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The prediction was created.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Output"}
                                }
                            },
                        }
                    },
                }
            }
        },
        "components": {"schemas": {"Input": spec.input_schema(), "Output": _OUTPUT_SCHEMA}},
    }


def readme_markdown(spec: ModelSpec) -> str:
    """A short markdown page about the model."""
    params = "\n".join(
        f"- `{name}` ({prop.get('type', 'any')}): {prop.get('description', '')}".rstrip(": ")
        for name, prop in spec.properties.items()
    )
    return (
        f"# {spec.display_name}\n\n{spec.profile}\n\n"
        f"Price: ${spec.base_price:g} per {spec.unit}.\n\n## Parameters\n\n{params}\n"
    )


_OUTPUT_SCHEMA: Final[JsonObject] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["processing", "completed", "succeeded", "failed"]},
        "model": {"type": "string"},
        "outputs": {"type": "array", "items": {"type": "string"}},
        "error": {"type": "string"},
        "metrics": {"type": "object", "properties": {"predict_time": {"type": "number"}}},
        "created_at": {"type": "string", "format": "date-time"},
        "completed_at": {"type": "string", "format": "date-time"},
    },
    "required": ["id", "status", "model", "created_at"],
}
