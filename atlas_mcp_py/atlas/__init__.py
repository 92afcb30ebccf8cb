"""The Atlas Cloud API: wire shapes, HTTP, retries, the catalog. Knows no MCP."""

from atlas_mcp_py.atlas.capabilities import (
    estimate_cost,
    last_frame_models,
    model_takes,
    text_models,
)
from atlas_mcp_py.atlas.client import BALANCE_PATH, AtlasClient, GenerateKind, UploadProgressFn
from atlas_mcp_py.atlas.history import HISTORY_SLACK_SECONDS, find_in_history, history_prediction
from atlas_mcp_py.atlas.inputs import (
    FIRST_FRAME_NAMES,
    LAST_FRAME_NAMES,
    MediaParam,
    ModelInputs,
    fill_slots,
    format_problem,
    is_local,
    local_slots,
    media_param,
    model_inputs,
    slot_param,
    slots,
    url_format,
)
from atlas_mcp_py.atlas.models import (
    HistoryItem,
    ModelInfo,
    Prediction,
    normalise_status,
    unix_seconds,
)
from atlas_mcp_py.atlas.outputs import (
    declared_type,
    has_inline,
    inline_marker,
    is_data_url,
    is_inline_marker,
    kind_of_outputs,
    stored_outputs,
)
from atlas_mcp_py.atlas.sanitize import clean_json, clean_text, one_line, strip_controls, trim
from atlas_mcp_py.atlas.schemas import InputSchema
from atlas_mcp_py.atlas.transport import paced_transport

__all__ = [
    "BALANCE_PATH",
    "FIRST_FRAME_NAMES",
    "HISTORY_SLACK_SECONDS",
    "LAST_FRAME_NAMES",
    "AtlasClient",
    "GenerateKind",
    "HistoryItem",
    "InputSchema",
    "MediaParam",
    "ModelInfo",
    "ModelInputs",
    "Prediction",
    "UploadProgressFn",
    "clean_json",
    "clean_text",
    "declared_type",
    "estimate_cost",
    "fill_slots",
    "find_in_history",
    "format_problem",
    "has_inline",
    "history_prediction",
    "inline_marker",
    "is_data_url",
    "is_inline_marker",
    "is_local",
    "kind_of_outputs",
    "last_frame_models",
    "local_slots",
    "media_param",
    "model_inputs",
    "model_takes",
    "normalise_status",
    "one_line",
    "paced_transport",
    "slot_param",
    "slots",
    "stored_outputs",
    "strip_controls",
    "text_models",
    "trim",
    "unix_seconds",
    "url_format",
]
