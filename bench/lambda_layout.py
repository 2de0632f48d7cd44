"""The file system a function sees on Lambda, rebuilt for every benchmark run under build/bench/.

- ``layer``: /opt/python, made by ``layers/common/Makefile`` (the very target ``sam build`` runs),
  for this machine's platform: the pinned packages and the agentmessage package, bytecode compiled.
- ``layer_uncompiled``: the same without bytecode, as ``sam build``'s python3.13 build method would
  ship it; Lambda's file system is read-only, so Python compiles it again at every cold start.
- ``runtime``: the runtime's boto3 (the version uv.lock pins), compiled as Lambda ships it.

Children run as ``python -S`` (no site-packages: nothing of the development environment) with
``PYTHONPATH`` = the function's folder, the layer, the runtime, and never write bytecode.
"""

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench"
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")


@dataclass(frozen=True)
class Layout:
    layer: Path
    layer_uncompiled: Path
    runtime: Path


def _uv() -> str:
    """uv itself: ``uv run`` names it in ``UV``."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise RuntimeError("the benchmark needs uv: run it with `make bench` or `uv run`")
    return found


def _platform() -> str:
    machine = platform.machine().lower()
    return f"{'aarch64' if machine in {'aarch64', 'arm64'} else 'x86_64'}-manylinux2014"


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def _layer(target: Path, *, compile_bytecode: bool) -> Path:
    subprocess.run(["rm", "-rf", str(target)], check=True)
    _run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT / "layers" / "common"),
            "build-CommonLayer",
            f"ARTIFACTS_DIR={target}",
            f"PLATFORM={_platform()}",
            f"COMPILE={int(compile_bytecode)}",
            f"PYTHON={sys.executable}",
            f"UV={_uv()}",
        ]
    )
    return target / "python"


def _runtime() -> Path:
    pins = [f"{name}=={version(name)}" for name in RUNTIME_PACKAGES]
    target = BUILD / ("runtime-" + "-".join(pin.split("==")[1] for pin in pins[:2]))
    if not (target / "boto3" / "__pycache__").is_dir():
        subprocess.run(["rm", "-rf", str(target)], check=True)
        _run([_uv(), "pip", "install", "--quiet", "--no-deps", "--target", str(target), *pins])
        compile_all = [sys.executable, "-m", "compileall", "-q", "-j", "0"]
        _run([*compile_all, "--invalidation-mode", "unchecked-hash", str(target)])
    return target


def build_layout() -> Layout:
    BUILD.mkdir(parents=True, exist_ok=True)
    return Layout(
        layer=_layer(BUILD / "layer", compile_bytecode=True),
        layer_uncompiled=_layer(BUILD / "layer-uncompiled", compile_bytecode=False),
        runtime=_runtime(),
    )
