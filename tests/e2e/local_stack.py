"""The local stack as a test sees it: ``agentmessage local`` in a subprocess, and the CLI.

The stack runs on free ports (127.0.0.1 only) with its own state file, so it never collides
with a developer's ``make run``. It dies with the test process even when that one is killed
(``PR_SET_PDEATHSIG``), and its own workers end with it (their stdin closes).
"""

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


def agentmessage_command() -> list[str]:
    """The installed console script, as a user runs it (beside this interpreter)."""
    script = Path(sys.executable).parent / "agentmessage"
    if script.exists():
        return [str(script)]
    found = shutil.which("agentmessage")
    return [found] if found else [sys.executable, "-m", "agentmessage_local"]


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the test process dies (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the fixture's finally still stops the stack


@dataclass
class LocalStackProcess:
    process: "subprocess.Popen[bytes]"
    state_file: Path
    log_file: Path
    gateway_url: str = ""
    state: dict[str, Any] | None = None

    @classmethod
    def start(cls, workdir: Path, *extra_args: str) -> "LocalStackProcess":
        """``agentmessage local`` on free ports, once it answers."""
        stack = cls.spawn(workdir, *extra_args)
        stack._wait_until_ready()
        return stack

    @classmethod
    def spawn(cls, workdir: Path, *extra_args: str) -> "LocalStackProcess":
        """``agentmessage local`` on free ports, just started (not waited for)."""
        state_file = workdir / "state.json"
        log_file = workdir / "stack.log"
        environment = {**os.environ, "AGENTMESSAGE_LOCAL_STATE": str(state_file)}
        environment.pop("AWS_ENDPOINT_URL", None)
        with log_file.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - our own console script
                [*agentmessage_command(), "local", "--port", "0", "--aws-port", "0", *extra_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=ROOT,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
        return cls(process=process, state_file=state_file, log_file=log_file)

    @property
    def endpoint_url(self) -> str:
        """The AWS endpoint the stack uses (its embedded moto, with ``/_local/faults``)."""
        assert self.state is not None
        url: str = self.state["endpoint_url"]
        return url

    def wait_for_log(self, text: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_file.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local stack never logged {text!r}:\n{self.log()}")
            time.sleep(0.01)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the local stack exited with {self.process.returncode}:\n{self.log()}")
            if self.state_file.exists():
                self.state = json.loads(self.state_file.read_text())
                self.gateway_url = self.state["gateway_url"]
                try:
                    with urllib.request.urlopen(f"{self.gateway_url}/_local/health", timeout=2) as answer:  # noqa: S310
                        if answer.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the local stack was not ready within {START_TIMEOUT_SECONDS} s:\n{self.log()}")

    def log(self, tail: int = 8000) -> str:
        return self.log_file.read_text(errors="replace")[-tail:]

    def banner(self) -> str:
        """What ``agentmessage local`` printed when it was ready."""
        return self.log_file.read_text(errors="replace").split("Ctrl-C stops it.", 1)[0]

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Stop it as Ctrl-C or a service manager would; kill it if it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def cli(self, *args: str, stdin: str | None = None) -> "subprocess.CompletedProcess[str]":
        """``agentmessage ...`` with no settings but this stack's state file, as a user runs it."""
        environment = {**os.environ, "AGENTMESSAGE_LOCAL_STATE": str(self.state_file)}
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            environment.pop(name, None)
        return subprocess.run(  # noqa: S603 - our own console script
            [*agentmessage_command(), *args],
            capture_output=True,
            text=True,
            input=stdin,
            env=environment,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
