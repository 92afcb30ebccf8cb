"""What PyPI shows and pip resolves: every import declared as a dependency with a range,
the license as an SPDX expression, and a README whose links work on PyPI too."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def imported_top_level_modules() -> set[str]:
    """Top-level modules the package imports, anywhere in it (lazy imports included)."""
    found: set[str] = set()
    for path in (REPO / "atlas_mcp_py").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"atlas_mcp_py", "__future__"}


def declared() -> dict[str, Requirement]:
    """The dependencies, and the optional extras the package imports lazily (postgres)."""
    extras = PROJECT["optional-dependencies"]["postgres"]
    requirements = [Requirement(text) for text in [*PROJECT["dependencies"], *extras]]
    return {canonical(r.name): r for r in requirements}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_distribution_is_a_declared_dependency() -> None:
    providers = metadata.packages_distributions()
    deps = declared()
    for module in sorted(imported_top_level_modules()):
        dists = {canonical(d) for d in providers.get(module, [])}
        assert dists, f"{module} is imported but no installed distribution provides it"
        assert dists & set(deps), f"{module} (from {dists}) is imported but not declared"


def test_every_dependency_has_a_lower_bound_and_the_fragile_ones_a_ceiling() -> None:
    for name, requirement in declared().items():
        operators = {spec.operator for spec in requirement.specifier}
        assert ">=" in operators, f"{name} needs a lower bound"
        if name != "rich":  # the demo's progress bar only; rich's majors keep that API
            assert "<" in operators, f"{name} needs a ceiling below its next major"
    assert str(declared()["mcp"].specifier) in ("<3,>=2.3", ">=2.3,<3")


def test_the_license_is_an_spdx_expression_with_its_file() -> None:
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert "the atlas-mcp-py authors" in (REPO / "LICENSE").read_text()
    assert not any(c.startswith("License ::") for c in PROJECT["classifiers"])  # PEP 639
    build = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]
    assert any(
        Requirement(r).name == "setuptools"
        and Requirement(r).specifier.contains("77")
        and not Requirement(r).specifier.contains("76")
        for r in build["requires"]
    )


def test_every_readme_link_is_absolute_so_it_works_on_pypi() -> None:
    readme = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme) + re.findall(r'(?:src|href)="([^"]+)"', readme)
    assert targets
    relative = [t for t in targets if not re.match(r"https?://", t)]
    assert relative == []


def test_the_project_urls_name_one_repository() -> None:
    urls = PROJECT["urls"]
    repo = urls["Repository"]
    assert repo == "https://github.com/atlas-mcp-py/atlas-mcp-py"
    assert all(url.startswith(repo) for url in urls.values())
