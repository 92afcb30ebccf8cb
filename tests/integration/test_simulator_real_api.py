"""The simulator behaves as the real Atlas API does (issue 12), over real loopback sockets:
its catalog of real models, the schema host, the refusals, error shapes, request ids, the
gateway's 401, availability, balance, output expiry and realistic job lengths."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from helpers import FakeClock

from atlas_mcp_py.simulator import SIMULATOR_API_KEY, Fault, SimulatorServer, SimulatorState

AUTH = {"Authorization": f"Bearer {SIMULATOR_API_KEY}"}
HAILUO = "minimax/hailuo-02/fast"
HAILUO_T2V = "minimax/hailuo-02/t2v-standard"
KLING = "kwaivgi/kling-v3.0-std/image-to-video"
SEEDANCE = "bytedance/seedance-v1-lite-i2v-1080p"
MOTION = "kwaivgi/kling-v2.6-pro/motion-control"
FRAME = "https://example.com/frame.jpg"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x40\x00\x00\x00WEBPVP8 " + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64
VIDEO_PATH = "/api/v1/model/generateVideo"
IMAGE_PATH = "/api/v1/model/generateImage"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(clock: FakeClock) -> SimulatorState:
    return SimulatorState(job_seconds=10.0, clock=clock)


@pytest.fixture
def sim(state: SimulatorState) -> Iterator[SimulatorServer]:
    with SimulatorServer(state) as server:
        yield server


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sim.base_url, headers=AUTH, timeout=10.0) as http:
        yield http


def catalog(client: httpx2.Client) -> dict[str, dict[str, Any]]:
    return {m["model"]: m for m in client.get("/api/v1/models").json()["data"]}


def document(client: httpx2.Client, model: str) -> dict[str, Any]:
    with httpx2.Client() as anonymous:
        response = anonymous.get(catalog(client)[model]["schema"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def upload(client: httpx2.Client, name: str, content: bytes, content_type: str) -> str:
    response = client.post(
        "/api/v1/model/uploadMedia", files={"file": (name, content, content_type)}
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["data"]["download_url"]
    return url


def generate(client: httpx2.Client, body: dict[str, Any], **kwargs: Any) -> httpx2.Response:
    image = body["model"].startswith(("google/nano", "google/imagen", "bytedance/seedream"))
    path = IMAGE_PATH if image else VIDEO_PATH
    return client.post(path, json=body, **kwargs)


def refused(response: httpx2.Response, *words: str) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 400 and body["data"] is None
    assert body["request_id"] == response.headers["x-request-id"]
    message: str = body["msg"]
    for word in words:
        assert word in message
    return message


# -- catalog -----------------------------------------------------------------------------


def test_the_catalog_holds_real_models_of_every_kind_with_their_categories(
    client: httpx2.Client,
) -> None:
    models = catalog(client)
    assert len(models) >= 20
    assert {
        HAILUO,
        HAILUO_T2V,
        "minimax/hailuo-02/t2v-pro",
        "minimax/hailuo-2.3/t2v-standard",
        KLING,
        SEEDANCE,
        MOTION,
        "kwaivgi/kling-v1.6-multi-i2v-standard",
        "kwaivgi/kling-v2.6-std/avatar",
        "google/nano-banana/text-to-image",
        "bytedance/seedream-v4.5",
        "bytedance/seedream-v5.0-lite/edit",
    } <= set(models)
    assert models[HAILUO]["categories"] == ["IMAGE-TO-VIDEO"]
    assert models[HAILUO_T2V]["categories"] == ["TEXT-TO-VIDEO"]
    assert "VIDEO-TO-VIDEO" in models[MOTION]["categories"]
    assert models["google/nano-banana/text-to-image"]["categories"] == ["TEXT-TO-IMAGE"]
    text_to_video = [m for m in models.values() if "TEXT-TO-VIDEO" in m["categories"]]
    assert len({m["organization"] for m in text_to_video}) >= 4


def test_prices_come_per_generation_per_second_discounted_or_as_sku_text_only(
    client: httpx2.Client,
) -> None:
    models = catalog(client)
    assert models[HAILUO]["price"]["actual"] == {"base_price": "0.1", "unit": "generation"}
    assert models[KLING]["price"]["actual"] == {"base_price": "0.084", "unit": "second"}
    assert models[KLING]["price"]["discount"] == "70"
    assert models["kwaivgi/kling-v2.6-std/avatar"]["price"] == {
        "sku": {"text": "$0.056 per second of audio"}
    }


# -- schema host ---------------------------------------------------------------------------


def test_schemas_live_on_a_second_host_that_needs_no_key(
    sim: SimulatorServer, client: httpx2.Client
) -> None:
    assert sim.static_url != sim.base_url
    for model in catalog(client).values():
        assert model["schema"] == f"{sim.static_url}/model/schema/{model['model']}.json"
        with httpx2.Client() as anonymous:
            schema = anonymous.get(model["schema"])
            readme = anonymous.get(model["readme"])
        assert schema.status_code == 200, model["model"]
        assert schema.json()["openapi"].startswith("3.")
        assert readme.status_code == 200
        assert readme.headers["content-type"].startswith("text/markdown")
    hosts = {(r.endpoint, r.host) for r in sim.state.requests}
    assert ("schema", "static") in hosts and ("models", "api") in hosts


def test_each_host_refuses_the_other_hosts_paths(
    sim: SimulatorServer, client: httpx2.Client
) -> None:
    with httpx2.Client(base_url=sim.static_url) as static:
        assert static.get("/api/v1/models").status_code == 404
        missing = static.get("/model/schema/no/such-model.json")
    assert missing.status_code == 404
    assert missing.headers["x-request-id"]
    on_api = client.get(f"/model/schema/{HAILUO}.json")
    assert on_api.status_code == 401


def test_the_default_model_schema_is_a_ref_to_an_image_to_video_input(
    client: httpx2.Client,
) -> None:
    doc = document(client, HAILUO)
    schemas = doc["components"]["schemas"]
    assert schemas["Input"] == {"$ref": "#/components/schemas/HailuoFastInput"}
    body = doc["paths"][VIDEO_PATH]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Input"}
    inputs = schemas["HailuoFastInput"]
    props = inputs["properties"]
    assert inputs["required"] == ["model", "image"]
    assert props["duration"] == {"$ref": "#/components/schemas/Duration"}
    assert schemas["Duration"]["enum"] == [6, 10]
    assert props["image"]["x-accept"] == "image/jpeg,image/png"
    assert props["image"]["x-max-size-mb"] == 20
    assert props["enable_sync_mode"]["hidden"] is True
    assert "resolution" not in props and "end_image" not in props
    assert {"prompt", "enable_prompt_expansion", "go_fast"} <= set(props)
    assert inputs["x-order-properties"] == list(props)


def test_one_model_document_has_no_input_only_a_request_body_schema(
    client: httpx2.Client,
) -> None:
    doc = document(client, SEEDANCE)
    assert "Input" not in doc["components"]["schemas"]
    body = doc["paths"][VIDEO_PATH]["post"]["requestBody"]["content"]["application/json"]
    props = body["schema"]["properties"]
    assert {"image", "last_image", "duration", "seed"} <= set(props)
    assert props["enable_safety_checker"]["disabled"] is True


@pytest.mark.parametrize(
    ("model", "media"),
    [
        (HAILUO, {"image"}),
        (KLING, {"image", "end_image"}),  # the wire names (its UI labels say image_url)
        (SEEDANCE, {"image", "last_image"}),
        ("kwaivgi/kling-v1.6-multi-i2v-standard", {"images"}),
        (MOTION, {"image", "video"}),
        ("kwaivgi/kling-video-o3-std/video-edit", {"video", "images"}),
        ("kwaivgi/kling-v2.6-std/avatar", {"audio", "image"}),
        ("bytedance/seedream-v5.0-lite/edit", {"image"}),
        ("google/nano-banana/edit", {"images"}),
        (HAILUO_T2V, set()),
    ],
)
def test_each_model_names_its_own_media_parameters(
    client: httpx2.Client, model: str, media: set[str]
) -> None:
    doc = document(client, model)
    schemas = doc["components"]["schemas"]
    if "Input" in schemas:
        name = schemas["Input"]["$ref"].rsplit("/", 1)[1]
        props = schemas[name]["properties"]
    else:
        body = doc["paths"][VIDEO_PATH]["post"]["requestBody"]["content"]["application/json"]
        props = body["schema"]["properties"]
    assert {name for name, prop in props.items() if "x-accept" in prop} == media
    if "images" in media:
        assert props["images"]["type"] == "array"


# -- errors, request ids, the gateway -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/api/v1/models"),
        ("POST", "/api/v1/api/v1/model/generateVideo"),
        ("GET", "/v1/models"),
        ("GET", "/api/v2/model/prediction/x"),
        ("GET", "/public/v1/nothing"),
    ],
)
def test_an_unknown_path_is_401_even_with_a_good_key(
    client: httpx2.Client, state: SimulatorState, method: str, path: str
) -> None:
    response = client.request(method, path, json={"model": HAILUO, "image": FRAME})
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == 401 and body["request_id"] == response.headers["x-request-id"]
    assert not state.predictions
    assert state.requests[-1].authorized is True


def test_control_paths_stay_404_when_unknown(client: httpx2.Client) -> None:
    assert client.get("/_sim/nothing").status_code == 404


def test_every_response_has_its_own_request_id_and_the_log_keeps_it(
    sim: SimulatorServer, client: httpx2.Client, state: SimulatorState
) -> None:
    state.add_fault(Fault(endpoint="history", kind="html_error", status=502))
    created = generate(client, {"model": HAILUO, "image": FRAME})
    prediction_id = created.json()["data"]["id"]
    state.complete(prediction_id)
    (output,) = client.get(f"/api/v1/model/prediction/{prediction_id}").json()["data"]["outputs"]
    answers = [
        created,
        client.get("/api/v1/models"),
        client.get(output),
        client.get("/api/v1/model/history"),
        client.get("/public/v1/balance"),
        client.get("/nowhere"),
        httpx2.get(f"{sim.static_url}/model/schema/{HAILUO}.json"),
    ]
    ids = [a.headers["x-request-id"] for a in answers]
    assert all(len(i) == 32 for i in ids) and len(set(ids)) == len(ids)
    logged = {r.request_id: r for r in state.requests}
    assert set(ids) <= set(logged)
    assert logged[ids[0]].prediction_id == prediction_id
    assert state.predictions[prediction_id].request_id == ids[0]
    assert [logged[i].status for i in ids] == [200, 200, 200, 502, 200, 401, 200]


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": HAILUO, "prompt": "a paper boat"}, ("Missing", "'image'")),
        ({"model": HAILUO, "image": FRAME, "resolution": "512P"}, ("Unknown", "'resolution'")),
        ({"model": HAILUO, "image": FRAME, "end_image": FRAME}, ("Unknown", "'end_image'")),
        ({"model": HAILUO, "image": FRAME, "enable_sync_mode": True}, ("'enable_sync_mode'",)),
        ({"model": HAILUO, "image_url": FRAME}, ("'image_url'",)),
        ({"model": HAILUO, "image": FRAME, "duration": 5}, ("'duration'", "[6, 10]")),
        ({"model": KLING, "prompt": "x", "image": FRAME, "cfg_scale": 1.5}, ("cfg_scale",)),
        ({"model": KLING, "prompt": "x", "image_url": FRAME}, ("'image_url'",)),
        ({"model": SEEDANCE, "image": FRAME, "enable_safety_checker": False}, ("Unsupported",)),
        ({"model": SEEDANCE, "image": FRAME, "aspect_ratio": "2:1"}, ("'aspect_ratio'",)),
        (
            {"model": "kwaivgi/kling-v1.6-multi-i2v-standard", "prompt": "x", "images": FRAME},
            ("'images'",),
        ),
        ({"model": MOTION, "image": FRAME, "video": FRAME}, ("'video'", "image/jpeg")),
    ],
)
def test_what_the_real_api_refuses_is_a_400_that_bills_nothing_but_is_logged(
    client: httpx2.Client, state: SimulatorState, body: dict[str, Any], words: tuple[str, ...]
) -> None:
    refused(generate(client, body), *words)
    assert not state.predictions
    assert state.balance_usd == 100.0
    (logged,) = state.requests
    assert (logged.endpoint, logged.status) == ("generate", 400)


def test_a_hidden_field_is_refused_as_not_offered(client: httpx2.Client) -> None:
    message = refused(generate(client, {"model": HAILUO, "image": FRAME, "enable_sync_mode": 1}))
    assert message.startswith("Unsupported parameter 'enable_sync_mode'")
    assert "enable_sync_mode" not in message.split("Accepted parameters:")[1]


def test_an_uploaded_webp_frame_is_refused_by_hailuo_and_taken_by_kling(
    client: httpx2.Client, state: SimulatorState
) -> None:
    webp = upload(client, "frame.webp", WEBP, "image/webp")
    refused(generate(client, {"model": HAILUO, "image": webp}), "image/webp", "JPEG, PNG")
    accepted = generate(client, {"model": KLING, "prompt": "x", "image": webp})
    assert accepted.status_code == 200, accepted.text
    assert len(state.predictions) == 1


def test_a_frame_is_judged_by_its_bytes_not_its_name(client: httpx2.Client) -> None:
    disguised = upload(client, "frame.png", WEBP, "image/png")
    refused(generate(client, {"model": HAILUO, "image": disguised}), "image/webp")
    honest = upload(client, "frame.webp", PNG, "image/webp")
    assert generate(client, {"model": HAILUO, "image": honest}).status_code == 200


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("data:image/png;base64," + base64.b64encode(PNG).decode(), True),
        ("data:image/jpeg;base64," + base64.b64encode(JPEG).decode(), True),
        ("data:image/webp;base64," + base64.b64encode(WEBP).decode(), False),
        ("data:image/png;base64," + base64.b64encode(WEBP).decode(), False),
        ("https://cdn.example.com/frame.webp", False),
        ("https://cdn.example.com/frame.JPG", True),
        ("https://cdn.example.com/render?id=7", True),
        ("ftp://example.com/frame.png", False),
        ("data:image/png,notbase64", False),
    ],
)
def test_hailuo_takes_jpeg_and_png_as_urls_or_data_urls(
    client: httpx2.Client, image: str, ok: bool
) -> None:
    response = generate(client, {"model": HAILUO, "image": image})
    if ok:
        assert response.status_code == 200, response.text
    else:
        refused(response, "'image'")


def test_a_frame_over_the_models_size_limit_is_refused(client: httpx2.Client) -> None:
    big = upload(client, "big.jpg", JPEG + b"\x00" * (10 * 1024 * 1024), "image/jpeg")
    refused(generate(client, {"model": KLING, "prompt": "x", "image": big}), "at most 10 MB")
    assert generate(client, {"model": HAILUO, "image": big}).status_code == 200  # 20 MB cap


def test_media_parameters_take_video_audio_and_image_lists(
    client: httpx2.Client, state: SimulatorState
) -> None:
    video = upload(client, "move.mp4", MP4, "video/mp4")
    frame = upload(client, "me.jpg", JPEG, "image/jpeg")
    wav = upload(client, "voice.wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 32, "audio/wav")
    bodies: list[dict[str, Any]] = [
        {"model": MOTION, "image": frame, "video": video},
        {"model": "kwaivgi/kling-v2.6-std/avatar", "image": frame, "audio": wav},
        {"model": "kwaivgi/kling-v1.6-multi-i2v-standard", "prompt": "x", "images": [frame] * 2},
        {"model": SEEDANCE, "image": frame, "last_image": frame},
        {"model": KLING, "prompt": "x", "image": frame, "end_image": frame},
    ]
    for body in bodies:
        assert generate(client, body).status_code == 200, body["model"]
    refused(
        generate(
            client, {"model": "kwaivgi/kling-v2.6-std/avatar", "image": frame, "audio": video}
        ),
        "'audio'",
        "video/mp4",
    )
    assert len(state.predictions) == len(bodies)


# -- availability ---------------------------------------------------------------------------


def test_a_model_the_account_cannot_use_is_404_on_generate(
    client: httpx2.Client, state: SimulatorState
) -> None:
    for model in ("no/such-model", "openai/sora-2/text-to-video-pro"):
        response = generate(client, {"model": model, "prompt": "x"})
        assert response.status_code == 404, model
        assert "not available to this account" in response.json()["msg"]
    assert "openai/sora-2/text-to-video-pro" in catalog(client)
    state.set_model_available(HAILUO_T2V, False)
    assert generate(client, {"model": HAILUO_T2V, "prompt": "x"}).status_code == 404
    control = client.post("/_sim/availability", json={"model": HAILUO_T2V, "available": True})
    assert control.status_code == 200
    assert generate(client, {"model": HAILUO_T2V, "prompt": "x"}).status_code == 200
    assert len(state.predictions) == 1


# -- balance ----------------------------------------------------------------------------------


def test_balance_is_free_shows_cash_and_bonus_and_falls_as_jobs_are_billed(
    client: httpx2.Client, state: SimulatorState
) -> None:
    state.set_balance(125.5, bonus_usd=0.05)
    before = client.get("/public/v1/balance")
    assert before.status_code == 200
    body = before.json()
    assert "data" not in body and body["account"]["id"]
    assert body["available"] == {"value": "125.550000", "currency": "usd"}
    assert body["cash"]["value"] == "125.500000" and body["bonus"]["value"] == "0.050000"
    assert body["frozen"]["value"] == "0.000000"
    assert generate(client, {"model": HAILUO, "image": FRAME}).status_code == 200
    after = client.get("/public/v1/balance").json()
    assert after["available"]["value"] == "125.450000"
    assert after["bonus"]["value"] == "0.000000"  # bonus credit is spent first
    assert state.count("balance") == 2
    assert len(state.predictions) == 1  # asking costs nothing


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_balance_without_a_good_key_is_401_in_the_public_error_shape(
    sim: SimulatorServer, headers: dict[str, str]
) -> None:
    response = httpx2.get(f"{sim.base_url}/public/v1/balance", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["code"] == "invalid_api_key"


def test_too_little_balance_is_a_402_and_the_control_endpoint_sets_it(
    client: httpx2.Client, state: SimulatorState
) -> None:
    assert client.post("/_sim/balance", json={"balance_usd": 0.05}).status_code == 200
    response = generate(client, {"model": HAILUO, "image": FRAME})
    assert response.status_code == 402
    body = response.json()
    assert body["code"] == 402 and "$0.05" in body["msg"] and body["data"] is None
    assert not state.predictions
    assert client.post("/_sim/balance", json={"balance_usd": "lots"}).status_code == 400


def test_per_second_prices_bill_the_duration_with_a_minimum(
    client: httpx2.Client, state: SimulatorState
) -> None:
    generate(client, {"model": KLING, "prompt": "x", "image": FRAME, "duration": 10})
    generate(client, {"model": SEEDANCE, "image": FRAME, "duration": 2})
    prices = sorted(p.price for p in state.predictions.values())
    assert prices == [pytest.approx(0.036 * 5), pytest.approx(0.84)]
    assert state.balance_usd == pytest.approx(100 - 0.84 - 0.18)


# -- outputs: moderation codes, base64 images, expiry ----------------------------------------


def test_an_image_model_answers_base64_data_urls_when_asked(
    client: httpx2.Client, state: SimulatorState
) -> None:
    linked = generate(client, {"model": "bytedance/seedream-v4.5", "prompt": "a cat"})
    inline = generate(
        client,
        {"model": "bytedance/seedream-v4.5", "prompt": "a cat", "enable_base64_output": True},
    )
    for answer in (linked, inline):
        state.complete(answer.json()["data"]["id"])
    (url,) = client.get(f"/api/v1/model/prediction/{linked.json()['data']['id']}").json()["data"][
        "outputs"
    ]
    assert client.get(url).content.startswith(b"\x89PNG")
    (data_url,) = client.get(f"/api/v1/model/prediction/{inline.json()['data']['id']}").json()[
        "data"
    ]["outputs"]
    assert data_url.startswith("data:image/png;base64,")
    assert base64.b64decode(data_url.split(",", 1)[1]).startswith(b"\x89PNG")


def test_outputs_expire_after_the_hours_the_request_asked_for(
    client: httpx2.Client, state: SimulatorState, clock: FakeClock
) -> None:
    short = generate(
        client,
        {"model": HAILUO, "image": FRAME},
        headers={"X-AtlasCloud-Object-Expiration-Hours": "24"},
    ).json()["data"]["id"]
    default = generate(client, {"model": HAILUO, "image": FRAME}).json()["data"]["id"]
    clock.now += 11
    records = state.predictions
    assert records[default].expires_at - records[short].expires_at == pytest.approx(312 * 3600)
    urls = {
        pid: client.get(f"/api/v1/model/prediction/{pid}").json()["data"]["outputs"][0]
        for pid in (short, default)
    }
    assert client.get(urls[short]).status_code == 200
    clock.now += 24 * 3600
    expired = client.get(urls[short])
    assert expired.status_code == 404 and "expired" in expired.json()["msg"]
    assert state.predictions[short].outputs_expired
    assert client.get(urls[default]).status_code == 200
    record = client.get(f"/api/v1/model/prediction/{short}").json()["data"]
    assert record["status"] == "completed" and record["outputs"] == [urls[short]]
    clock.now += 312 * 3600
    assert client.get(urls[default]).status_code == 404


def test_a_test_can_expire_outputs_at_once(client: httpx2.Client, state: SimulatorState) -> None:
    first = generate(client, {"model": HAILUO, "image": FRAME}).json()["data"]["id"]
    second = generate(client, {"model": HAILUO, "image": FRAME}).json()["data"]["id"]
    state.complete(first)
    state.complete(second)
    urls = [
        client.get(f"/api/v1/model/prediction/{pid}").json()["data"]["outputs"][0]
        for pid in (first, second)
    ]
    state.expire_outputs(first)
    assert client.post(f"/_sim/predictions/{second}/expire").json()["outputs_expired"] is True
    assert [client.get(url).status_code for url in urls] == [404, 404]
    assert client.post("/_sim/predictions/nope/expire").status_code == 404


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-AtlasCloud-Object-Expiration-Hours", "0"),
        ("X-AtlasCloud-Object-Expiration-Hours", "337"),
        ("X-AtlasCloud-Object-Expiration-Hours", "1.5"),
        ("X-AtlasCloud-Request-Retention-Hours", "-1"),
    ],
)
def test_retention_headers_out_of_range_are_refused_unbilled(
    client: httpx2.Client, state: SimulatorState, header: str, value: str
) -> None:
    refused(generate(client, {"model": HAILUO, "image": FRAME}, headers={header: value}), header)
    assert not state.predictions


def test_a_moderated_job_fails_with_numeric_error_code_1039(
    client: httpx2.Client, clock: FakeClock
) -> None:
    prediction_id = generate(
        client, {"model": HAILUO, "image": FRAME, "prompt": "x [sim:moderation]"}
    ).json()["data"]["id"]
    clock.now += 11
    data = client.get(f"/api/v1/model/prediction/{prediction_id}").json()["data"]
    assert data["status"] == "failed" and data["error_code"] == 1039
    assert (
        client.post(f"/_sim/predictions/{prediction_id}/fail", json={"error_code": "x"}).status_code
        == 400
    )


# -- job lengths ------------------------------------------------------------------------------


def test_jobs_take_their_models_realistic_time_unless_sped_up(clock: FakeClock) -> None:
    realistic = SimulatorState(clock=clock)
    with (
        SimulatorServer(realistic) as sim,
        httpx2.Client(base_url=sim.base_url, headers=AUTH) as http,
    ):
        hailuo = generate(http, {"model": HAILUO, "image": FRAME}).json()["data"]["id"]
        sora = generate(
            http, {"model": "openai/sora-2/text-to-video", "prompt": "x", "duration": 4}
        )
        fast = generate(http, {"model": HAILUO, "image": FRAME, "prompt": "[sim:seconds=1]"})
        clock.now += 30
        statuses = {p.id: p.status for p in realistic.predictions.values()}
    assert statuses[hailuo] == "processing"
    assert statuses[sora.json()["data"]["id"]] == "processing"
    assert statuses[fast.json()["data"]["id"]] == "completed"
    lengths = {spec.id: spec.job_seconds for spec in realistic.catalog if spec.type == "Video"}
    assert all(30 <= seconds <= 90 for seconds in lengths.values())
    clock.now += 15
    assert realistic.predictions[hailuo].status == "completed"  # Hailuo fast: 45 s
    assert realistic.predictions[sora.json()["data"]["id"]].status == "processing"
