"""The Atlas API simulator over real HTTP on 127.0.0.1: shapes, job lifecycle, faults, control."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from helpers import FakeClock

from atlas_mcp_py.simulator import SIMULATOR_API_KEY, Fault, SimulatorServer, SimulatorState

HAILUO = "minimax/hailuo-02/fast"
SEEDANCE = "bytedance/seedance-v1-lite-i2v-1080p"
FRAME = "https://example.com/frame.png"
AUTH = {"Authorization": f"Bearer {SIMULATOR_API_KEY}"}


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
    with httpx2.Client(base_url=sim.base_url, headers=AUTH, timeout=5.0) as http:
        yield http


def submit(client: httpx2.Client, prompt: str = "a red fox", **params: Any) -> str:
    body = {"model": HAILUO, "image": FRAME, "prompt": prompt, **params}
    response = client.post("/api/v1/model/generateVideo", json=body)
    assert response.status_code == 200, response.text
    prediction_id: str = response.json()["data"]["id"]
    return prediction_id


def poll(client: httpx2.Client, prediction_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/model/prediction/{prediction_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


# -- catalog -------------------------------------------------------------------------------


def test_catalog_needs_no_key_and_lists_the_hidden_model_with_display_console_false(
    sim: SimulatorServer,
) -> None:
    with httpx2.Client(base_url=sim.base_url) as anonymous:
        response = anonymous.get("/api/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 200
    models = {m["model"]: m for m in body["data"]}
    assert models[HAILUO]["type"] == "Video"
    assert models[HAILUO]["price"]["actual"] == {"base_price": "0.1", "unit": "generation"}
    hidden = {m["model"] for m in models.values() if m["display_console"] is False}
    assert "kwaivgi/kling-v2.0-i2v-master" in hidden and HAILUO not in hidden
    assert {models[m]["type"] for m in hidden} == {"Video", "Image"}
    assert {m["type"] for m in models.values()} == {"Video", "Image", "Audio", "Text"}


# -- auth ----------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key"}])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/model/generateVideo"),
        ("GET", "/api/v1/model/prediction/abc"),
        ("GET", "/api/v1/model/history"),
        ("POST", "/api/v1/model/uploadMedia"),
    ],
)
def test_a_missing_or_wrong_key_is_401_with_the_json_envelope(
    sim: SimulatorServer, method: str, path: str, headers: dict[str, str]
) -> None:
    with httpx2.Client(base_url=sim.base_url, headers=headers) as http:
        response = http.request(method, path, json={"model": HAILUO, "prompt": "x"})
    assert response.status_code == 401
    assert response.json() == {
        "code": 401,
        "msg": "Unauthorized: invalid or missing API key",
        "request_id": response.headers["x-request-id"],
        "data": None,
    }
    assert not sim.state.predictions
    assert sim.state.requests[-1].authorized is False


# -- job lifecycle -------------------------------------------------------------------------


def test_a_job_goes_from_created_through_processing_to_completed(
    client: httpx2.Client, state: SimulatorState, clock: FakeClock
) -> None:
    created = client.post("/api/v1/model/generateVideo", json={"model": HAILUO, "image": FRAME})
    data = created.json()["data"]
    assert data["status"] == "created"
    assert len(data["id"]) == 32 and int(data["id"], 16) >= 0
    assert data["urls"]["get"] == f"{client.base_url}/api/v1/model/prediction/{data['id']}"
    assert created.headers["x-request-id"]

    seen = [poll(client, data["id"])["status"]]
    for _ in range(10):
        clock.advance(1.0)
        seen.append(poll(client, data["id"])["status"])
    assert seen[0] == "created"
    assert "processing" in seen
    assert seen[-1] == "completed"
    assert seen.index("processing") < seen.index("completed")

    done = poll(client, data["id"])
    assert done["outputs"] == [f"{client.base_url}/files/outputs/{data['id']}/video.mp4"]
    assert done["metrics"]["predict_time"] == pytest.approx(10.0)
    assert done["error"] is None
    assert done["completed_at"] and done["created_at"]
    assert state.balance_usd == pytest.approx(99.9)
    running = state.predictions[data["id"]]
    assert running.status == "completed" and running.price == pytest.approx(0.1)


def test_a_completed_video_downloads_without_a_key_as_a_valid_mp4(
    sim: SimulatorServer, client: httpx2.Client, state: SimulatorState
) -> None:
    prediction_id = submit(client)
    assert poll(client, prediction_id)["outputs"] is None
    state.complete(prediction_id)
    (url,) = poll(client, prediction_id)["outputs"]
    with httpx2.Client() as cdn:
        video = cdn.get(url)
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    assert 1000 < len(video.content) < 100_000


def test_image_and_audio_jobs_output_a_png_and_a_wav(
    client: httpx2.Client, state: SimulatorState
) -> None:
    image = client.post(
        "/api/v1/model/generateImage",
        json={"model": "google/nano-banana/text-to-image", "prompt": "a cat"},
    )
    audio = client.post(
        "/api/v1/model/generateAudio", json={"model": "minimax/speech-02-hd", "text": "hello"}
    )
    image_id, audio_id = image.json()["data"]["id"], audio.json()["data"]["id"]
    state.complete(image_id)
    state.complete(audio_id)
    (png,) = poll(client, image_id)["outputs"]
    assert png.startswith(f"{client.base_url}/files/outputs/{image_id}/")
    assert client.get(png).content.startswith(b"\x89PNG\r\n\x1a\n")
    (wav,) = poll(client, audio_id)["outputs"]
    assert client.get(wav).content[8:12] == b"WAVE"


def test_fail500_directive_answers_http_500_carrying_the_terminal_state(
    client: httpx2.Client, clock: FakeClock
) -> None:
    prediction_id = submit(client, "a fox [sim:fail500]")
    assert poll(client, prediction_id)["status"] == "created"
    clock.advance(11)
    for _ in range(2):  # every poll, not just the first
        response = client.get(f"/api/v1/model/prediction/{prediction_id}")
        assert response.status_code == 500
        body = response.json()
        assert body["code"] == 500
        assert body["msg"].startswith("Generation failed: ")
        assert body["data"]["id"] == prediction_id
        assert body["data"]["status"] == "failed"
        assert body["data"]["error"] in body["msg"]


@pytest.mark.parametrize(
    ("directive", "error_code", "words"),
    [("[sim:fail]", None, "failed"), ("[sim:moderation]", 1039, "moderation")],
)
def test_failure_directives_end_the_job_failed_with_a_reason_on_http_200(
    client: httpx2.Client, clock: FakeClock, directive: str, error_code: int | None, words: str
) -> None:
    prediction_id = submit(client, f"a fox {directive}")
    clock.advance(11)
    data = poll(client, prediction_id)
    assert data["status"] == "failed"
    assert data["outputs"] is None
    assert data["error_code"] == error_code
    assert words in data["error"].lower()


def test_status_and_outputs_directives_change_the_success_shape(
    client: httpx2.Client, clock: FakeClock
) -> None:
    prediction_id = submit(client, "x [sim:status=succeeded] [sim:outputs=objects] [sim:seconds=2]")
    clock.advance(2.5)
    data = poll(client, prediction_id)
    assert data["status"] == "succeeded"
    assert data["outputs"] == [
        {"url": f"{client.base_url}/files/outputs/{prediction_id}/video.mp4"}
    ]


def test_never_directive_keeps_a_job_processing_until_forced(
    client: httpx2.Client, state: SimulatorState, clock: FakeClock
) -> None:
    prediction_id = submit(client, "x [sim:never]")
    clock.advance(10_000)
    assert poll(client, prediction_id)["status"] == "processing"
    state.fail(prediction_id, "stopped by the test")
    assert poll(client, prediction_id)["error"] == "stopped by the test"


def test_an_unknown_prediction_id_is_404_with_the_json_envelope(client: httpx2.Client) -> None:
    response = client.get("/api/v1/model/prediction/0123456789abcdef0123456789abcdef")
    assert response.status_code == 404
    assert response.json()["code"] == 404
    assert "not found" in response.json()["msg"]


# -- validation and billing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"model": "google/nano-banana/text-to-image", "prompt": "x"}, "Image model"),
        ({"model": HAILUO, "prompt": "x"}, "image"),
        ({"model": HAILUO, "image": FRAME, "duration": 7}, "duration"),
        ({"model": HAILUO, "image": FRAME, "duration": "6"}, "duration"),
        ({"model": HAILUO, "image": FRAME, "resolution": "512P"}, "resolution"),
        ({"model": HAILUO, "image": FRAME, "end_image": FRAME}, "end_image"),
        ({"model": HAILUO, "image": FRAME, "prompt": "x" * 2001}, "prompt"),
        ({"model": HAILUO, "image": FRAME, "width": 512}, "width"),
        ({"model": HAILUO, "image": "frame.png"}, "image"),
        ({"model": SEEDANCE, "image": FRAME, "duration": 121}, "duration"),
        ({"model": SEEDANCE, "image": FRAME, "seed": "s"}, "seed"),
        ({"model": "minimax/hailuo-02/t2v-standard", "prompt": "x", "image": FRAME}, "image"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter_and_bill_nothing(
    client: httpx2.Client, state: SimulatorState, body: dict[str, Any], named: str
) -> None:
    response = client.post("/api/v1/model/generateVideo", json=body)
    assert response.status_code == 400
    assert named in response.json()["msg"]
    assert not state.predictions
    assert state.balance_usd == 100.0
    (logged,) = state.requests
    assert (logged.endpoint, logged.status, logged.prediction_id) == ("generate", 400, None)


def test_parameters_nested_under_input_are_accepted(
    client: httpx2.Client, state: SimulatorState
) -> None:
    body = {"model": HAILUO, "input": {"image": FRAME, "duration": 10}}
    response = client.post("/api/v1/model/generateVideo", json=body)
    assert response.status_code == 200
    (job,) = state.predictions.values()
    assert job.params == {"image": FRAME, "duration": 10}


def test_insufficient_balance_is_402_and_creates_no_job(sim: SimulatorServer) -> None:
    sim.state.set_balance(0.05)
    with httpx2.Client(base_url=sim.base_url, headers=AUTH) as http:
        response = http.post("/api/v1/model/generateVideo", json={"model": HAILUO, "image": FRAME})
    assert response.status_code == 402
    assert response.json()["msg"].startswith("Insufficient balance")
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert not sim.state.predictions


# -- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [None, "2"])
def test_rate_limit_fault_is_429_with_retry_after_only_when_given(
    client: httpx2.Client, state: SimulatorState, retry_after: str | None
) -> None:
    state.add_fault(Fault(endpoint="models", kind="rate_limit", retry_after=retry_after))
    limited = client.get("/api/v1/models")
    assert limited.status_code == 429
    assert limited.json()["code"] == 429
    assert limited.headers.get("retry-after") == retry_after
    assert limited.headers["x-request-id"]
    assert client.get("/api/v1/models").status_code == 200  # used up after one request


@pytest.mark.parametrize("status", [502, 503])
def test_html_error_fault_answers_an_html_page_with_the_status(
    client: httpx2.Client, state: SimulatorState, status: int
) -> None:
    prediction_id = submit(client)
    state.add_fault(Fault(endpoint="prediction", kind="html_error", status=status))
    response = client.get(f"/api/v1/model/prediction/{prediction_id}")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith(f"<html><body><h1>{status} ")


def test_json_error_fault_applies_to_the_first_times_requests_and_bills_nothing(
    client: httpx2.Client, state: SimulatorState
) -> None:
    state.add_fault(
        Fault(endpoint="generate", kind="json_error", status=402, message="no money", times=2)
    )
    body = {"model": HAILUO, "image": FRAME}
    answers = [client.post("/api/v1/model/generateVideo", json=body) for _ in range(3)]
    assert [a.status_code for a in answers] == [402, 402, 200]
    assert answers[0].json() == {
        "code": 402,
        "msg": "no money",
        "request_id": answers[0].headers["x-request-id"],
        "data": None,
    }
    assert len(state.predictions) == 1
    assert not state.pending_faults


def test_malformed_json_fault_answers_200_with_a_body_that_is_not_json(
    client: httpx2.Client, state: SimulatorState
) -> None:
    state.add_fault(Fault(endpoint="history", kind="malformed_json"))
    response = client.get("/api/v1/model/history")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_slow_fault_delays_the_answer_but_the_job_is_created_and_billed(
    client: httpx2.Client, state: SimulatorState
) -> None:
    state.add_fault(Fault(endpoint="generate", kind="slow", delay=0.5))
    with pytest.raises(httpx2.ReadTimeout):
        client.post(
            "/api/v1/model/generateVideo",
            json={"model": HAILUO, "image": FRAME},
            timeout=httpx2.Timeout(5.0, read=0.1),
        )
    assert len(state.predictions) == 1
    assert state.balance_usd == pytest.approx(99.9)

    state.add_fault(Fault(endpoint="models", kind="slow", delay=0.2))
    started = time.monotonic()
    assert client.get("/api/v1/models").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_drop_fault_cuts_the_response_short_and_the_job_still_exists(
    client: httpx2.Client, state: SimulatorState
) -> None:
    state.add_fault(Fault(endpoint="generate", kind="drop"))
    with pytest.raises(httpx2.RemoteProtocolError):
        client.post("/api/v1/model/generateVideo", json={"model": HAILUO, "image": FRAME})
    (prediction_id,) = state.predictions
    generate = [r for r in state.requests if r.endpoint == "generate"]
    assert generate[0].prediction_id == prediction_id
    assert poll(client, prediction_id)["id"] == prediction_id  # the server is still fine


def test_a_fault_for_one_prediction_id_leaves_other_jobs_alone(
    client: httpx2.Client, state: SimulatorState
) -> None:
    first, second = submit(client), submit(client)
    state.add_fault(
        Fault(endpoint="prediction", kind="json_error", status=500, prediction_id=second)
    )
    assert client.get(f"/api/v1/model/prediction/{first}").status_code == 200
    assert client.get(f"/api/v1/model/prediction/{second}").status_code == 500
    assert state.count("prediction", second) == 1
    assert state.count("prediction") == 2


# -- uploads -------------------------------------------------------------------------------


def test_an_upload_keeps_size_and_sha256_and_its_url_returns_the_same_bytes(
    client: httpx2.Client, state: SimulatorState
) -> None:
    payload = bytes(range(256)) * 4000
    response = client.post(
        "/api/v1/model/uploadMedia", files={"file": ("clip 1.mp4", payload, "video/mp4")}
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["size"] == len(payload)
    assert data["type"] == "video"
    assert data["content_type"] == "video/mp4"
    assert data["filename"] == data["file_name"] == "clip_1.mp4"
    (upload,) = state.uploads.values()
    assert upload.sha256 == hashlib.sha256(payload).hexdigest()
    assert upload.path.read_bytes() == payload
    with httpx2.Client() as cdn:
        downloaded = cdn.get(data["download_url"])
    assert downloaded.content == payload
    assert downloaded.headers["content-type"] == "video/mp4"


@pytest.mark.parametrize("size", [1001, 300_000])
def test_an_upload_over_the_limit_is_413_and_keeps_nothing(sim: SimulatorServer, size: int) -> None:
    sim.state.max_upload_bytes = 1000
    with httpx2.Client(base_url=sim.base_url, headers=AUTH) as http:
        response = http.post(
            "/api/v1/model/uploadMedia", files={"file": ("big.png", b"x" * size, "image/png")}
        )
    assert response.status_code == 413
    assert response.json()["code"] == 413
    assert not sim.state.uploads
    assert not list(sim.state.upload_dir.iterdir())


def test_an_upload_without_a_file_part_is_400(client: httpx2.Client) -> None:
    response = client.post("/api/v1/model/uploadMedia", files={"other": ("a.png", b"x")})
    assert response.status_code == 400
    assert "file" in response.json()["msg"]


# -- history, variants, control ------------------------------------------------------------


def test_history_lists_submitted_jobs_newest_first_with_their_request_bodies(
    client: httpx2.Client, state: SimulatorState
) -> None:
    ids = [submit(client, f"job {n}") for n in range(3)]
    state.complete(ids[0])
    page = client.get("/api/v1/model/history", params={"no": 1, "size": 2}).json()["data"]
    assert page["total"] == 3 and page["pageNo"] == 1 and page["pageSize"] == 2
    assert [item["ID"] for item in page["items"]] == [ids[2], ids[1]]
    item = page["items"][0]
    assert json.loads(item["requestBody"])["prompt"] == "job 2"
    assert isinstance(item["createdAt"], int) and item["result"] is None
    done = client.get("/api/v1/model/history", params={"status": "completed"}).json()["data"]
    assert [i["ID"] for i in done["items"]] == [ids[0]]
    assert done["items"][0]["result"]["outputs"]


def test_envelope_message_key_and_output_style_variants(clock: FakeClock) -> None:
    state = SimulatorState(
        envelope=False, message_key="message", output_style="objects", clock=clock
    )
    with SimulatorServer(state) as sim, httpx2.Client(base_url=sim.base_url, headers=AUTH) as http:
        created = http.post("/api/v1/model/generateVideo", json={"model": HAILUO, "image": FRAME})
        body = created.json()
        assert "data" not in body and body["message"] == "success" and body["status"] == "created"
        state.complete(body["id"])
        polled = http.get(f"/api/v1/model/prediction/{body['id']}").json()
        assert polled["outputs"] == [
            {"url": f"{sim.base_url}/files/outputs/{body['id']}/video.mp4"}
        ]
        denied = http.get("/api/v1/model/history", headers={"Authorization": "Bearer nope"})
        assert "message" in denied.json() and "msg" not in denied.json()


def test_control_endpoints_script_and_inspect_the_simulator_over_http(
    sim: SimulatorServer, client: httpx2.Client
) -> None:
    faults = [
        {"endpoint": "models", "kind": "rate_limit", "retry_after": "1"},
        {"endpoint": "any", "kind": "json_error", "status": 503},
    ]
    assert client.post("/_sim/faults", json=faults).json()["queued"] == 2
    assert client.post("/_sim/faults", json={"endpoint": "nope", "kind": "x"}).status_code == 400
    assert client.get("/api/v1/models").status_code == 429
    assert client.get("/_sim/requests").status_code == 200  # "any" spares control endpoints
    assert client.delete("/_sim/faults").json() == {"cleared": 1}

    first, second = submit(client), submit(client)
    assert client.post(f"/_sim/predictions/{first}/complete").json()["status"] == "completed"
    failed = client.post(
        f"/_sim/predictions/{second}/fail", json={"error": "boom", "http_500": True}
    )
    assert failed.json()["status"] == "failed"
    assert client.get(f"/api/v1/model/prediction/{second}").status_code == 500
    assert client.post("/_sim/predictions/nope/complete").status_code == 404
    predictions = {p["id"]: p for p in client.get("/_sim/predictions").json()}
    assert predictions[first]["status"] == "completed" and predictions[second]["error"] == "boom"

    client.post("/api/v1/model/uploadMedia", files={"file": ("a.png", b"png", "image/png")})
    (upload,) = client.get("/_sim/uploads").json()
    assert upload["size"] == 3 and upload["sha256"] == hashlib.sha256(b"png").hexdigest()
    requests = client.get("/_sim/requests").json()
    assert {"models", "generate", "prediction", "upload", "control"} <= {
        r["endpoint"] for r in requests
    }
    assert client.post("/_sim/reset").json() == {"reset": True}
    assert client.get("/_sim/predictions").json() == []
    assert not sim.state.uploads


def test_the_server_stops_quickly_with_a_slow_request_in_flight() -> None:
    state = SimulatorState()
    state.add_fault(Fault(endpoint="models", kind="slow", delay=30))
    outcome: list[BaseException | int] = []

    def call(url: str) -> None:
        with httpx2.Client(timeout=10) as http:
            try:
                outcome.append(http.get(url).status_code)
            except httpx2.HTTPError as exc:
                outcome.append(exc)

    with SimulatorServer(state) as sim:
        caller = threading.Thread(target=call, args=(f"{sim.base_url}/api/v1/models",))
        caller.start()
        deadline = time.monotonic() + 5
        while state.count("models") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 3
    caller.join(5)
    assert not caller.is_alive()
    (answer,) = outcome  # cut off after the grace period: a 500 or a dropped connection
    assert answer == 500 or isinstance(answer, httpx2.HTTPError)
