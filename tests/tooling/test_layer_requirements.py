"""The layer ships exactly the locked versions of what its code imports, and nothing else."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER_ROOTS = ("aws-lambda-powertools", "pydantic")  # what layers/common/agentmessage imports, boto3 aside
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;]+)$")


def locked_closure() -> dict[str, str]:
    """Each package the layer's roots need, with its version in uv.lock."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    packages = {package["name"]: package for package in lock["package"]}
    closure: dict[str, str] = {}
    todo = list(LAYER_ROOTS)
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        package = packages[name]
        closure[name] = package["version"]
        todo.extend(dependency["name"] for dependency in package.get("dependencies", []))
    return closure


def pinned() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "layers" / "common" / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"not an exact pin: {line!r}"
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_the_layer_pins_the_locked_closure_of_its_imports() -> None:
    assert pinned() == locked_closure()


def test_boto3_stays_out_of_the_layer() -> None:
    assert not {"boto3", "botocore", "s3transfer"} & set(pinned())
