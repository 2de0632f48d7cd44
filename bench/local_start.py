"""Seconds from ``make run`` to the first answered request, on an installed checkout.

    uv run python bench/local_start.py [--runs 5]     # or: make bench-start

Each run starts the stack as a user does (``make run``, in its own process group, on free ports
unless told otherwise), reads the banner it prints for the API's URL and the test key, sends the
banner's example (``POST /v1/messages`` with that key) until it is answered 202, and stops the
stack as Ctrl-C does (SIGINT to the group), checking it stopped cleanly. It reports, per run and
as medians: until the banner (the stack is up), and until the first 202 (which includes the cold
start of the authorizer's and the send function's workers).
"""

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
BANNER_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 20.0
BODY = {"from": "+15555550100", "to": "+15555550199", "text": "Hello from AgentMessage"}


@dataclass(frozen=True)
class Run:
    up_seconds: float  # `make run` spawned -> banner printed
    first_answer_seconds: float  # `make run` spawned -> first POST /v1/messages answered 202
    stopped_cleanly: bool


class Output:
    """The stack's output, read as it comes (a thread), with the time each line arrived."""

    def __init__(self, stream: "subprocess.Popen[bytes]") -> None:
        self.lines: list[tuple[float, str]] = []
        self._changed = threading.Condition()
        assert stream.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(stream.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stdout: IO[bytes]) -> None:
        for raw in stdout:
            with self._changed:
                self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))
                self._changed.notify_all()
        with self._changed:
            self.lines.append((time.monotonic(), "<end of output>"))
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> tuple[float, re.Match[str]]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        seen = 0
        with self._changed:
            while True:
                for arrived, line in self.lines[seen:]:
                    found = regex.search(line)
                    if found:
                        return arrived, found
                    if line == "<end of output>":
                        raise RuntimeError("the stack exited:\n" + self.text())
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no line matching {pattern!r} within {timeout} s:\n" + self.text())
                self._changed.wait(remaining)

    def text(self) -> str:
        with self._changed:
            return "\n".join(line for _, line in self.lines)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def first_send(api: str, key: str, deadline: float) -> None:
    """POST the banner's example until it is answered 202."""
    request = urllib.request.Request(  # noqa: S310 - the banner's http://127.0.0.1 URL
        f"{api}/messages",
        data=json.dumps(BODY).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    while True:
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - our own local URL
                if answer.status == 202:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("POST /v1/messages was never answered 202")
        time.sleep(0.01)


def user_environment() -> dict[str, str]:
    """This environment as a user's shell has it: without the project's venv that ``uv run`` (or
    ``make bench-start``) put first on PATH, so ``make`` finds the Python a user's would."""
    environment = dict(os.environ)
    venv_bins = {str(Path(sys.prefix) / "bin")}
    if "VIRTUAL_ENV" in environment:
        venv_bins.add(str(Path(environment.pop("VIRTUAL_ENV")) / "bin"))
    path = [entry for entry in environment.get("PATH", "").split(os.pathsep) if entry not in venv_bins]
    environment["PATH"] = os.pathsep.join(path)
    environment.pop("AWS_ENDPOINT_URL", None)
    return environment


def one_run(make_args: list[str], run_args: str, state_dir: Path) -> Run:
    environment = {**user_environment(), "AGENTMESSAGE_LOCAL_STATE": str(state_dir / "state.json")}
    started = time.monotonic()
    process = subprocess.Popen(
        ["make", "--no-print-directory", *make_args, "run", f"RUN_ARGS={run_args}"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: Ctrl-C is sent to all of it
    )
    output = Output(process)
    try:
        up_at, api_line = output.wait_for(r"API\s+(http://\S+/v1)", BANNER_TIMEOUT_SECONDS)
        _, key_line = output.wait_for(r"Test key\s+(am_test_\w+)", BANNER_TIMEOUT_SECONDS)
        first_send(api_line.group(1), key_line.group(1), time.monotonic() + BANNER_TIMEOUT_SECONDS)
        answered_at = time.monotonic()
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        output.join(5)
    text = output.text()
    stopped = "\nstopped" in text and "Traceback" not in text and not _group_alive(process.pid)
    return Run(up_at - started, answered_at - started, stopped)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--port", type=int, default=0, help="the gateway's port (default: any free one)")
    parser.add_argument("--aws-port", type=int, default=0, help="moto's port (default: any free one)")
    parser.add_argument("--python", help="PYTHON for make (default: the Makefile's)")
    args = parser.parse_args()

    make_args = [f"PYTHON={args.python}"] if args.python else []
    run_args = f"--port {args.port} --aws-port {args.aws_port}"
    subprocess.run(
        ["make", "--no-print-directory", *make_args, "install"], cwd=ROOT, env=user_environment(), check=True
    )

    print(f"`make run RUN_ARGS='{run_args}'` to the first POST /v1/messages answered 202, {args.runs} runs")
    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {' '.join(f'{value:.2f}' for value in os.getloadavg())}"
    )
    runs = []
    with tempfile.TemporaryDirectory() as state_dir:
        for number in range(1, args.runs + 1):
            run = one_run(make_args, run_args, Path(state_dir))
            runs.append(run)
            print(
                f"  run {number}: up {run.up_seconds:.2f} s, first 202 {run.first_answer_seconds:.2f} s, "
                f"{'stopped cleanly' if run.stopped_cleanly else 'DID NOT STOP CLEANLY'}",
                flush=True,
            )
    answered = [run.first_answer_seconds for run in runs]
    print(
        f"median: up {statistics.median(run.up_seconds for run in runs):.2f} s, "
        f"first answered request {statistics.median(answered):.2f} s "
        f"(min {min(answered):.2f}, max {max(answered):.2f})"
    )
    return 0 if all(run.stopped_cleanly for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
