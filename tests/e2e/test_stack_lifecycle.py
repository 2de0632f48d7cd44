"""``agentmessage local`` starts, serves, and stops cleanly on Ctrl-C (workers, threads, moto), even
while starting; and starts again on an endpoint where its resources already exist."""

import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.api_client import ApiClient, assert_error
from tests.e2e.local_stack import LocalStackProcess
from tests.e2e.test_sending import message


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found |= {int(child) for child in (task / "children").read_text().split()}
        except FileNotFoundError:  # a thread that ended meanwhile has no children
            continue
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


def test_ctrl_c_while_starting_stops_quietly(tmp_path: Path) -> None:
    # Given a stack that has just begun to start (its signal handlers are in place, it is still
    # importing and creating: the first seconds)
    stack = LocalStackProcess.spawn(tmp_path)
    try:
        stack.wait_for_log("starting the local stack...")
        # When it gets Ctrl-C
        code = stack.stop(signal.SIGINT)
    finally:
        stack.stop(signal.SIGKILL)
    log = stack.log()
    # Then it stops as a running stack stops: status 0, no traceback, nothing left behind
    assert code == 0, log
    assert "Traceback" not in log, log
    assert "KeyboardInterrupt" not in log, log
    assert "stopped" in log
    assert "stack is up" not in log, "the interrupt should have come while starting"
    assert not stack.state_file.exists()


def test_a_second_stack_on_the_same_endpoint_reuses_its_resources(
    local_stack: LocalStackProcess, tmp_path: Path
) -> None:
    # Given the session's stack, with its tables, queues and schedule group
    # When another stack starts against the same AWS endpoint (twice: a restart)
    for run in ("first", "second"):
        workdir = tmp_path / run
        workdir.mkdir()
        other = LocalStackProcess.start(workdir, "--endpoint-url", local_stack.endpoint_url)
        try:
            banner = other.banner()
            assert "external endpoint" in banner
            found = re.search(r"Test key\s+(am_test_\w+)", banner)
            assert found is not None, banner
            # Then it serves from the same tables: what it accepts, the first stack reads
            sent = ApiClient(other.gateway_url).send(found.group(1), message()).data
            assert ApiClient(local_stack.gateway_url).get(found.group(1), sent["id"]).data["id"] == sent["id"]
        finally:
            code = other.stop(signal.SIGINT)
        assert code == 0, other.log()
