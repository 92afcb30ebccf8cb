"""Prices as Atlas's own MCP server reads the catalog (a missing unit is per second for
video, per image for images; `minDuration`), and raw base64 outputs made data URLs."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from atlas_mcp_py.atlas.capabilities import billing_unit, cost_estimate, price_text
from atlas_mcp_py.atlas.models import ModelInfo, parse_models, parse_prediction
from atlas_mcp_py.atlas.outputs import as_output

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 120
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 120
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 120


def model(kind: str, price: float | None = 0.1, unit: str | None = None, **more: Any) -> ModelInfo:
    return ModelInfo(id=f"x/{kind}", name="x", type=kind, price=price, price_unit=unit, **more)


# -- prices ------------------------------------------------------------------------------


def test_a_unitless_video_price_is_per_second_and_ten_seconds_cost_ten_times() -> None:
    found = cost_estimate(model("video"), {"duration": 10})
    assert found is not None and found.usd == pytest.approx(1.0)
    assert found.basis == (
        "$0.1 per second x 10 s (the catalog gives no unit: a video model's price is per second)"
    )


def test_a_unitless_image_price_is_per_image() -> None:
    found = cost_estimate(model("image", 0.04), {"num_images": 3})
    assert found is not None and found.usd == pytest.approx(0.12)
    assert found.basis.startswith("$0.04 per image x 3 images (the catalog gives no unit")


def test_a_stated_unit_wins_and_other_types_without_one_are_per_request() -> None:
    found = cost_estimate(model("video", 0.28, "generation"), {"duration": 10})
    assert found is not None and (found.usd, found.basis) == (0.28, "$0.28 per generation")
    audio = cost_estimate(model("audio", 0.1), {})
    assert audio is not None and (audio.usd, audio.basis) == (0.1, "$0.1 per request")
    assert billing_unit(model("video", unit="Second")) == ("second", False)
    assert billing_unit(model("video")) == ("second", True)


@pytest.mark.parametrize(
    ("duration", "usd", "said"),
    [(3, 0.5, "x 5 s, billed for at least 5 s"), (8, 0.8, "x 8 s"), (None, 0.5, "x 5 s")],
)
def test_a_minimum_billed_duration_is_applied(duration: int | None, usd: float, said: str) -> None:
    body = {} if duration is None else {"duration": duration}
    found = cost_estimate(model("video", 0.1, "second", min_duration=5.0), body)
    assert found is not None and found.usd == pytest.approx(usd) and said in found.basis


def test_a_per_second_price_without_a_duration_is_unknown_and_says_why() -> None:
    found = cost_estimate(model("video"), {})
    assert found is not None and found.usd is None and "names no duration" in found.basis


def test_price_text_names_the_implied_unit_and_the_minimum() -> None:
    assert price_text(model("video", 0.05)) == "$0.05/second"
    assert price_text(model("image", 0.04)) == "$0.04/image"
    assert (
        price_text(model("video", 0.05, "second", min_duration=5)) == "$0.05/second, at least 5 s"
    )


def test_the_catalog_unit_falls_back_to_origin_and_min_duration_is_read() -> None:
    (origin, least, none) = parse_models(
        {
            "data": [
                {
                    "model": "a",
                    "type": "Video",
                    "price": {"actual": {"base_price": "0.1"}, "origin": {"unit": "second"}},
                },
                {
                    "model": "b",
                    "type": "Video",
                    "price": {"actual": {"base_price": "1"}},
                    "minDuration": "5",
                },
                {
                    "model": "c",
                    "type": "Video",
                    "price": {"actual": {"base_price": "1", "unit": ""}},
                    "minDuration": "nan",
                },
            ]
        }
    )
    assert (origin.price, origin.price_unit) == (0.1, "second")
    assert least.price_unit is None and least.min_duration == 5.0
    assert none.price_unit is None and none.min_duration is None


# -- outputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "media_type"), [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")]
)
def test_raw_base64_images_become_data_urls(raw: bytes, media_type: str) -> None:
    encoded = base64.b64encode(raw).decode()
    assert as_output(encoded) == f"data:{media_type};base64,{encoded}"
    prediction = parse_prediction(
        {"data": {"id": "p", "status": "completed", "outputs": [encoded]}}
    )
    assert prediction.outputs == [f"data:{media_type};base64,{encoded}"]


@pytest.mark.parametrize(
    "value",
    [
        "https://cdn.example/a.png",
        "http://cdn.example/aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQ",
        "//cdn.example/a.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "a short word",
        "lyrics: la la la " * 20,
        base64.b64encode(b"plain text, not an image" * 2).decode(),
    ],
)
def test_links_data_urls_and_text_stay_as_they_are(value: str) -> None:
    assert as_output(value) == value


def test_long_base64_of_no_known_type_is_still_inline_data_never_a_link() -> None:
    encoded = base64.b64encode(b"\x01\x02\x03" * 600).decode()
    assert as_output(encoded) == f"data:application/octet-stream;base64,{encoded}"
