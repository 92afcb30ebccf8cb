"""A local simulator of the Atlas Cloud media API, for tests and the no-key demo.

It serves the endpoints of `atlas-api.md` over real HTTP as the real API does (its section
"What the real API does differently"), plus `/_sim/...` control endpoints, and scripts faults
on demand. It imports nothing from the rest of `atlas_mcp_py`.

    state = SimulatorState(job_seconds=0.5)
    with SimulatorServer(state) as sim:
        state.add_fault(Fault(endpoint="prediction", kind="rate_limit", retry_after="1"))
        ...  # point a client at sim.base_url with SIMULATOR_API_KEY

What changed with issue 12 (the real API rather than our picture of it):
- Catalog: ~26 real models from `assets/catalog.json` (real ids and parameter names; the old
  made-up ids are gone). `minimax/hailuo-02/fast` is IMAGE-TO-VIDEO: `image` required (JPEG/
  PNG), `prompt` optional, `duration` 6|10, `enable_prompt_expansion`, `go_fast`, hidden
  `enable_sync_mode`; no `resolution`, no `end_image`. `categories` say the kind.
- Two ports: `sim.base_url` (the API) and `sim.static_url` (static.atlascloud.ai's role):
  the catalog's `schema`/`readme` are absolute URLs there (`/model/schema/<id>.json`,
  `/model/readme/<id>.md`, no key). The old `/schemas/...` paths on the API port are gone
  (401 like any unknown path). `state.static_port` says which port is the schema host.
- Schema documents: `components.schemas.Input` is a `$ref` to a named schema, properties may
  be `$ref`s (`Duration`), carry `hidden`/`disabled`, `x-accept`, `x-max-size-mb`,
  `x-order-properties`; `bytedance/seedance-v1-lite-i2v-1080p` has no `Input`, only the
  request body schema. `ModelSpec.input_schema()` is the resolved input.
- Errors: `{"code", "msg", "request_id", "data": null}` (`message_key` now defaults to
  "msg"); `X-Request-ID` on every response, the same id as `request_id`; `RequestRecord` has
  `request_id`, `status` and `host`, `PredictionRecord` the generate's `request_id`.
- Unknown path on the API port: 401 even with a good key (the gateway checks the key first);
  `/_sim/` unknown paths stay 404. Generate with a model not in the catalog or not available
  to the account (`ModelSpec.available`, `state.set_model_available(id, False)`,
  `POST /_sim/availability {"model", "available"}`): 404 (was 400 for unknown ids).
- Refused with 400, not billed, but in the request log: a missing required, an unknown,
  hidden or disabled parameter, a value outside enum/bounds/type, a media value that is not
  an http(s) or base64 data URL, or whose format (sniffed from an uploaded file's bytes or a
  data URL, else the URL's extension) is not in `x-accept`, or over `x-max-size-mb`.
- Balance: `GET /public/v1/balance` (bearer) -> `{"account", "available", "cash", "bonus",
  "frozen"}` with `{"value": "125.500000", "currency": "usd"}`; errors there are
  `{"error": {"type", "code", "message", "param"}}`. `state.set_balance(cash, bonus_usd=)`
  or `POST /_sim/balance {"balance_usd", "bonus_usd"}`; billed jobs spend bonus first.
- Expiry: outputs are served for `X-AtlasCloud-Object-Expiration-Hours` (1-336, default
  336) after submission, then 404; `state.expire_outputs(id)` or
  `POST /_sim/predictions/{id}/expire` expires them now. The prediction payload carries no
  expiry field (the real one does not; the record outlives the media);
  `PredictionRecord.expires_at` (unix s) and `.outputs_expired` are for tests. Bad header
  values (and `X-AtlasCloud-Request-Retention-Hours` outside 0-336) are a 400.
- Failed predictions: `error_code` is numeric (1039 for `[sim:moderation]`; `fail()` takes an
  int). Image models with `enable_base64_output: true` answer `data:image/png;base64,...`.
- Job lengths: `SimulatorState()` (and `atlas-mcp simulator` without `--job-seconds`) gives
  each job its model's realistic time (30-90 s for video); `job_seconds=N` and
  `[sim:seconds=N]` still override. Image jobs bill per `max_images` (was `num_images`).
"""

from .app import create_app
from .catalog import ModelSpec
from .jobs import PredictionRecord
from .server import SimulatorServer, run_simulator
from .state import (
    SIMULATOR_API_KEY,
    Fault,
    RequestRecord,
    SimulatorState,
    UploadRecord,
)

__all__ = [
    "SIMULATOR_API_KEY",
    "Fault",
    "ModelSpec",
    "PredictionRecord",
    "RequestRecord",
    "SimulatorServer",
    "SimulatorState",
    "UploadRecord",
    "create_app",
    "run_simulator",
]
