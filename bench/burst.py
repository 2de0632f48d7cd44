"""A burst at the stage's rate limit, and how long until every accepted message is out, locally.

    uv run python bench/burst.py [--rate 100] [--seconds 60]     # or: make bench-burst

Starts the stack as a user does (``make run``, on free ports), then sends ``POST /v1/messages``
open-loop at ``--rate`` requests per second (the stage's ``ThrottlingRateLimit``, 100 by default)
for ``--seconds``, each request at its own time whatever the answers before it, from enough
threads that a slow answer does not hold the next one back. It counts the answers (202, 429 from
the stage's throttling, anything else), then reads the Messages table every second until every
accepted message has left ``queued`` and ``sending`` (sent, then delivered by its receipt), and
reports how long that took after the burst began and after it ended, and how many times the
dispatcher had to take a message (``attempts``: one each, if no duplicate was worth a claim).
"""

import argparse
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, from any folder
    sys.path.insert(0, str(ROOT))

from bench.local_start import (  # noqa: E402
    BANNER_TIMEOUT_SECONDS,
    STOP_TIMEOUT_SECONDS,
    Output,
    user_environment,
)

BODY = json.dumps({"from": "+15555550100", "to": "+15555550199", "text": "Your code is 482913"}).encode()
OUT_TIMEOUT_SECONDS = 900.0
THREADS = 64


class Sender:
    """One keep-alive connection per thread to the gateway."""

    def __init__(self, api: str, key: str) -> None:
        parts = urlsplit(api)
        self._host, self._port, self._path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self._local = threading.local()

    def send(self) -> tuple[int, str | None]:
        """(the status, the message id when accepted); 0 for a connection that failed."""
        for _ in range(2):  # a kept-alive connection the server closed meanwhile: once more, fresh
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=60)
                self._local.connection = connection
            try:
                connection.request("POST", f"{self._path}/messages", body=BODY, headers=self._headers)
                answer = connection.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                continue
            if answer.status == 202:
                return 202, json.loads(data)["data"]["id"]
            return answer.status, None
        return 0, None


def burst(sender: Sender, rate: float, seconds: float) -> tuple[Counter[int], list[str], float]:
    """Open-loop: request ``i`` starts at ``start + i / rate``. (answers by status, accepted ids,
    the burst's start on the monotonic clock)."""
    total = int(rate * seconds)
    statuses: Counter[int] = Counter()
    accepted: list[str] = []
    lock = threading.Lock()
    start = time.monotonic() + 0.5

    def one(index: int) -> None:
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        status, message_id = sender.send()
        with lock:
            statuses[status] += 1
            if message_id is not None:
                accepted.append(message_id)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(one, range(total)))
    return statuses, accepted, start


def statuses_of(table: Any, ids: set[str]) -> tuple[Counter[str], Counter[int]]:
    """(the accepted messages by status, by attempts), read from the Messages table."""
    by_status: Counter[str] = Counter()
    by_attempts: Counter[int] = Counter()
    request: dict[str, Any] = {
        "ProjectionExpression": "id, #s, attempts",
        "ExpressionAttributeNames": {"#s": "status"},
    }
    while True:
        page = table.scan(**request)
        for item in page["Items"]:
            if item["id"] in ids:
                by_status[str(item["status"])] += 1
                by_attempts[int(item.get("attempts", 0))] += 1
        if "LastEvaluatedKey" not in page:
            return by_status, by_attempts
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rate", type=float, default=100.0, help="requests per second (the stage's rate limit)"
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    subprocess.run(["make", "--no-print-directory", "install"], cwd=ROOT, env=user_environment(), check=True)
    print(
        f"burst: POST /v1/messages at {args.rate:g}/s for {args.seconds:g} s against `make run`; "
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {' '.join(f'{value:.2f}' for value in os.getloadavg())}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as state_dir:
        state_path = Path(state_dir) / "state.json"
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run", "RUN_ARGS=--port 0 --aws-port 0"],
            cwd=ROOT,
            env={**user_environment(), "AGENTMESSAGE_LOCAL_STATE": str(state_path)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # the functions' logs
            start_new_session=True,
        )
        output = Output(process)
        try:
            _, api = output.wait_for(r"API\s+(http://\S+/v1)", BANNER_TIMEOUT_SECONDS)
            _, key = output.wait_for(r"Test key\s+(am_test_\w+)", BANNER_TIMEOUT_SECONDS)
            _, aws = output.wait_for(r"AWS\s+(http://\S+)", BANNER_TIMEOUT_SECONDS)
            state = json.loads(state_path.read_text(encoding="utf-8"))
            table = boto3.resource(
                "dynamodb",
                endpoint_url=aws.group(1),
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",  # noqa: S106 - the local stack's fake credentials
            ).Table(state["stack"]["refs"]["MessagesTable"])
            sender = Sender(api.group(1), key.group(1))
            sender.send()  # the authorizer's and the send function's cold starts, before the clock starts

            answers, accepted, began = burst(sender, args.rate, args.seconds)
            ended = time.monotonic()
            sent_for = ended - began
            print(
                f"sent {sum(answers.values())} requests in {sent_for:.1f} s "
                f"({sum(answers.values()) / sent_for:.1f}/s): "
                + ", ".join(f"{status or 'no answer'}: {count}" for status, count in sorted(answers.items())),
                flush=True,
            )
            ids = set(accepted)
            deadline = ended + OUT_TIMEOUT_SECONDS
            while True:
                by_status, by_attempts = statuses_of(table, ids)
                waiting = by_status["queued"] + by_status["sending"]
                now = time.monotonic()
                print(f"  +{now - began:6.1f} s: {dict(sorted(by_status.items()))}", flush=True)
                if waiting == 0 and sum(by_status.values()) == len(ids):
                    break
                if now > deadline:
                    print(f"NOT ALL OUT after {OUT_TIMEOUT_SECONDS:.0f} s", flush=True)
                    return 1
                time.sleep(1.0)
            print(
                f"all {len(ids)} accepted messages out {now - began:.1f} s after the burst began, "
                f"{now - ended:.1f} s after it ended; "
                f"messages by attempts: {dict(sorted(by_attempts.items()))}",
                flush=True,
            )
        finally:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
