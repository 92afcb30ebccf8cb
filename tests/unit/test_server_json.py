"""server.json, the MCP Registry entry, against the registry's rules.

No package on PyPI or npm ships the registry's schema, and tests cannot fetch it, so this
file writes down what the 2025-12-11 schema (the `$schema` URL in server.json) requires of
the parts we use, as a JSON Schema, plus the checks the registry's publisher makes beyond
the schema (URL variables defined, argument names, PyPI ownership via `mcp-name:` in the
README), plus ours: the version is the package's, the variables are ones the server reads,
and the HTTP entry's arguments are a command line `atlas-mcp` accepts.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from atlas_mcp_py import __version__
from atlas_mcp_py.cli import _parser

REPO = Path(__file__).resolve().parents[2]
SERVER_JSON = REPO / "server.json"
SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"

_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "description": {"type": "string"},
        "default": {"type": "string"},
        "value": {"type": "string"},
        "placeholder": {"type": "string"},
        "isRequired": {"type": "boolean"},
        "isSecret": {"type": "boolean"},
        "format": {"enum": ["string", "number", "boolean", "filepath"]},
        "choices": {"type": "array", "items": {"type": "string"}},
    },
}
REGISTRY_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "definitions": {
        "KeyValueInput": {"allOf": [_INPUT, {"required": ["name"]}]},
        "Argument": {
            "allOf": [_INPUT, {"properties": {"isRepeated": {"type": "boolean"}}}],
            "oneOf": [
                {
                    "properties": {"type": {"const": "positional"}},
                    "required": ["type"],
                    "anyOf": [{"required": ["value"]}, {"required": ["valueHint"]}],
                },
                {
                    "properties": {"type": {"const": "named"}, "name": {"type": "string"}},
                    "required": ["type", "name"],
                },
            ],
        },
        "Transport": {
            "oneOf": [
                {
                    "properties": {"type": {"const": "stdio"}},
                    "required": ["type"],
                },
                {
                    "properties": {
                        "type": {"enum": ["streamable-http", "sse"]},
                        "url": {"type": "string", "pattern": r"^https?://[^\s]+$"},
                    },
                    "required": ["type", "url"],
                },
            ]
        },
        "Package": {
            "type": "object",
            "required": ["registryType", "identifier", "transport"],
            "properties": {
                "registryType": {"type": "string"},
                "registryBaseUrl": {"type": "string", "format": "uri"},
                "identifier": {"type": "string", "minLength": 1},
                "version": {"type": "string", "minLength": 1, "not": {"const": "latest"}},
                "runtimeHint": {"type": "string"},
                "transport": {"$ref": "#/definitions/Transport"},
                "environmentVariables": {
                    "type": "array",
                    "items": {"$ref": "#/definitions/KeyValueInput"},
                },
                "packageArguments": {"type": "array", "items": {"$ref": "#/definitions/Argument"}},
                "runtimeArguments": {"type": "array", "items": {"$ref": "#/definitions/Argument"}},
            },
        },
    },
    "type": "object",
    "required": ["name", "description", "version"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "name": {
            "type": "string",
            "minLength": 3,
            "maxLength": 200,
            "pattern": r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$",
        },
        "title": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string", "minLength": 1, "maxLength": 100},
        "version": {"type": "string", "maxLength": 255},
        "websiteUrl": {"type": "string", "format": "uri"},
        "repository": {
            "type": "object",
            "required": ["url", "source"],
            "properties": {
                "url": {"type": "string", "format": "uri"},
                "source": {"type": "string"},
            },
        },
        "packages": {"type": "array", "items": {"$ref": "#/definitions/Package"}},
    },
}


def server() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SERVER_JSON.read_text())
    return data


def registry_errors(data: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(REGISTRY_SCHEMA)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]


def test_server_json_follows_the_registry_schema_it_names() -> None:
    data = server()
    assert data["$schema"] == SCHEMA_URL
    assert registry_errors(data) == []


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.pop("description"),
        lambda d: d.update(name="atlas-mcp-py"),  # no namespace
        lambda d: d.update(description="x" * 101),
        lambda d: d["packages"][0].pop("transport"),
        lambda d: d["packages"][0].update(version="latest"),
        lambda d: d["packages"][1]["transport"].pop("url"),
        lambda d: d["packages"][0]["environmentVariables"][0].pop("name"),
        lambda d: d["packages"][1]["packageArguments"][1].pop("name"),
    ],
)
def test_the_schema_check_catches_what_the_registry_would_reject(breakage: Any) -> None:
    data = server()
    breakage(data)
    assert registry_errors(data) != []


def test_its_version_is_the_packages_everywhere() -> None:
    data = server()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert data["version"] == __version__ == project["version"]
    assert [p["version"] for p in data["packages"]] == [__version__] * len(data["packages"])


def test_it_names_the_pypi_package_run_by_uvx_and_proves_ownership_in_the_readme() -> None:
    data = server()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for package in data["packages"]:
        assert package["registryType"] == "pypi"
        assert package["identifier"] == project["name"] == "atlas-mcp-py"
        assert package["runtimeHint"] == "uvx"
        # uvx runs the script named like the package: it must exist.
        assert package["identifier"] in project["scripts"]
    # The registry checks the PyPI description (the README) for this marker.
    marker = re.search(r"mcp-name: (\S+?)(?:\s|-->)", (REPO / "README.md").read_text())
    assert marker and marker.group(1) == data["name"]
    assert data["repository"]["url"] == project["urls"]["Repository"]


def test_both_transports_are_offered_and_the_api_key_is_a_required_secret() -> None:
    packages = server()["packages"]
    assert {p["transport"]["type"] for p in packages} == {"stdio", "streamable-http"}
    for package in packages:
        env = {v["name"]: v for v in package["environmentVariables"]}
        assert env["ATLASCLOUD_API_KEY"]["isSecret"] is True
        assert env["ATLASCLOUD_API_KEY"]["isRequired"] is True
    http = next(p for p in packages if p["transport"]["type"] == "streamable-http")
    assert {v["name"]: v for v in http["environmentVariables"]}["ATLAS_MCP_HTTP_TOKEN"]["isSecret"]


def test_every_variable_listed_is_one_the_server_reads() -> None:
    source = "".join(p.read_text() for p in (REPO / "atlas_mcp_py").rglob("*.py"))
    for package in server()["packages"]:
        for variable in package["environmentVariables"]:
            assert f'"{variable["name"]}"' in source, variable["name"]


def test_the_http_entry_is_a_command_line_atlas_mcp_accepts_on_the_port_of_its_url() -> None:
    """What a registry client runs: the package's arguments with their values or defaults,
    the URL's {variables} defined by them (the publisher refuses undefined ones)."""
    http = next(p for p in server()["packages"] if p["transport"]["type"] == "streamable-http")
    arguments = http["packageArguments"]
    argv: list[str] = []
    values: dict[str, str] = {}
    for arg in arguments:
        value = arg.get("value", arg.get("default"))
        assert value is not None, arg
        if arg["type"] == "named":
            assert not re.search(r"[\s<>$]", arg["name"]) and not value.startswith(arg["name"])
            argv += [arg["name"], value]
            values[arg["name"]] = value
        else:
            argv.append(value)
        if "valueHint" in arg:
            values[arg["valueHint"]] = value
    for name in re.findall(r"{([^}]+)}", http["transport"]["url"]):
        assert name in values, f"{{{name}}} is not defined by an argument"
    url = re.sub(r"{([^}]+)}", lambda m: values[m.group(1)], http["transport"]["url"])

    args = _parser().parse_args(argv)
    assert (args.command, args.transport) == ("serve", "http")
    assert url == f"http://{args.host}:{args.port}/mcp"
