"""The shared package's layout: grouped by role, and each group importing only what its role allows."""

import ast
from pathlib import Path

import pytest

from agentmessage_local.template import ROOT

PACKAGE = ROOT / "layers" / "common" / "agentmessage"
GROUPS = {"domain", "integration", "keys", "carriers", "net", "api", "composition"}
MAX_LINES = 400


def modules(folder: Path = PACKAGE) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (lazy imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_package_is_grouped_by_role() -> None:
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__"}
    loose = {path.name for path in PACKAGE.glob("*.py")} - {"__init__.py"}
    assert folders == GROUPS
    assert loose == {"observability.py"}  # the logger and metrics every group shares


def test_every_init_file_is_empty() -> None:
    inits = [path for path in modules() if path.name == "__init__.py"]
    assert len(inits) == len(GROUPS) + 2  # the package, each group, and api/v1
    assert [path for path in inits if path.read_text(encoding="utf-8").strip()] == []


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_passes_400_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", modules(PACKAGE / "domain"), ids=lambda path: path.name)
def test_the_domain_imports_no_aws_sdk_no_http_surface_and_no_integration(path: Path) -> None:
    forbidden = (
        "boto3",
        "botocore",
        "aws_lambda_powertools.event_handler",
        "agentmessage.api",
        "agentmessage.integration",
        "agentmessage.composition",
        "pydantic",
    )
    found = {name for name in imported(path) if name.startswith(forbidden)}
    assert found == set()


@pytest.mark.parametrize(
    "path",
    [path for path in modules() if path.parts[len(PACKAGE.parts)] not in {"integration", "carriers"}],
    ids=lambda path: str(path.relative_to(PACKAGE)),
)
def test_only_integration_and_carriers_import_boto3(path: Path) -> None:
    assert {name for name in imported(path) if name.split(".")[0] == "boto3"} == set()


def test_the_domain_defines_no_http_status() -> None:
    for path in modules(PACKAGE / "domain"):
        assert "http" not in {name.split(".")[0] for name in imported(path)}, path.name
