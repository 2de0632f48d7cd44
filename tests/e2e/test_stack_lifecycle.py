"""``agentmessage local`` starts, serves, and stops cleanly on Ctrl-C: workers, threads, moto."""

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.api_client import ApiClient, assert_error
from tests.e2e.local_stack import LocalStackProcess


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads worker processes from /proc")
def test_ctrl_c_stops_the_stack_and_its_workers(tmp_path: Path) -> None:
    # Given a running stack whose function workers have started
    stack = LocalStackProcess.start(tmp_path)
    try:
        assert_error(
            ApiClient(stack.gateway_url).request(
                "GET", "/v1/messages/x", headers={"Authorization": "Bearer am_test_" + "A" * 40}
            ),
            401,
            "UNAUTHORIZED",
        )
        workers = children(stack.process.pid)
        assert workers, "the authorizer's worker should be running"
        # When it gets Ctrl-C
        code = stack.stop(signal.SIGINT)
    finally:
        stack.stop(signal.SIGKILL)
    # Then it exits cleanly, its state file removed, no worker left behind
    assert code == 0, stack.log()
    assert "stopped" in stack.log()
    assert not stack.state_file.exists()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers)


def test_a_port_in_use_is_a_clear_error(local_stack: LocalStackProcess) -> None:
    port = local_stack.gateway_url.rsplit(":", 1)[1]
    done = local_stack.cli("local", "--port", port, "--aws-port", "0")
    assert done.returncode == 2
    assert "already in use" in done.stderr
