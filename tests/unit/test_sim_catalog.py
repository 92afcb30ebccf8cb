"""The simulator's catalog is what tools/sim_catalog/build.py makes of the observed wire
names and the simulator's overrides: never hand-edited, never a UI label as a name."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

from atlas_mcp_py.simulator.catalog import CATALOG_FILE, MODELS

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tools" / "sim_catalog" / "build.py"


def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sim_catalog_build", BUILD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def observed() -> dict[str, dict[str, object]]:
    data = json.loads((BUILD.parent / "observed.json").read_text(encoding="utf-8"))
    return {m["model"]: m for m in data["models"]}


def test_the_catalog_file_is_exactly_what_the_builder_makes() -> None:
    assert builder().main(["--check"]) == 0


def test_the_builder_notices_a_hand_edit(tmp_path: Path) -> None:
    module = builder()
    edited = tmp_path / "catalog.json"
    edited.write_text(CATALOG_FILE.read_text(encoding="utf-8").replace('"image"', '"image_url"', 1))
    module.CATALOG = edited  # type: ignore[attr-defined]
    assert module.main(["--check"]) == 1


def test_no_parameter_is_named_by_a_ui_label() -> None:
    """Each observed parameter with a `label` (the node's input name) appears under its
    wire name, and the label names (image_url, width, height, ...) appear nowhere."""
    seen = observed()
    for spec in MODELS:
        entry = seen.get(spec.id)
        if entry is None:
            continue
        params: dict[str, dict[str, str]] = entry["params"]  # type: ignore[assignment]
        names = set(spec.input_schema()["properties"])
        for wire, param in params.items():
            labels = set(param.get("label", "").split(",")) - {"", *params}
            assert not labels & names, (spec.id, wire, labels)
    kling = next(s for s in MODELS if s.id == "kwaivgi/kling-v3.0-std/image-to-video")
    assert {"image", "end_image"} <= set(kling.properties) and "image_url" not in kling.properties
    seedream = next(s for s in MODELS if s.id == "bytedance/seedream-v4.5")
    assert "size" in seedream.properties and "width" not in seedream.properties


def family(model_id: str) -> str:
    """`google/veo`, `kwaivgi/kling`, `vidu/start`: the organisation and the model line."""
    org, rest = model_id.split("/", 1)
    return f"{org}/{re.split(r'[-/.0-9]', rest)[0]}"


def test_the_catalog_covers_every_family_with_40_models_or_more() -> None:
    assert len(MODELS) >= 40
    assert {family(m) for m in observed()} <= {family(m.id) for m in MODELS}
    kinds = {(m.type, m.price.get("actual", {}).get("unit")) for m in MODELS}
    assert ("Video", None) in kinds and ("Image", None) in kinds  # unit-less prices too
