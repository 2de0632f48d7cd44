"""Functions run like Lambda containers: warm worker subprocesses, scaled out under load.

A worker (``FunctionWorker``) is one execution environment: started on its first invocation and
kept warm, it serves one invocation at a time, with the function's timeout. A worker that times
out or dies is killed and replaced at the next invocation, as Lambda replaces a broken execution
environment. Workers write their logs to this process's stderr.

A function (``ScalingFunction``) runs as many workers as it has concurrent invocations, as Lambda
scales a function out: an invocation takes an idle warm worker (the most recently used), or starts
a new one (a cold start) when all are busy, up to the function's concurrency limit: its
``ReservedConcurrentExecutions`` when the template sets one, else ``DEFAULT_CONCURRENCY``. Beyond
it, an invocation waits for a worker to be free (where Lambda would answer a throttling error).
"""

import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any, Protocol

from agentmessage_local.resources import ACCOUNT
from agentmessage_local.template import FunctionSpec

INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit for the init phase
DEFAULT_CONCURRENCY = 4  # workers per function at most, unless the template reserves fewer
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}


@dataclass(frozen=True)
class Invocation:
    """What an invocation returned: the handler's result, or Lambda's error payload."""

    result: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def payload(self) -> Any:
        """The response payload as Lambda's Invoke API gives it."""
        return self.result if self.error is None else self.error


def function_name(spec: FunctionSpec, prefix: str) -> str:
    return f"{prefix}-{spec.logical_id}"


def lambda_environment(
    spec: FunctionSpec,
    resolved: Mapping[str, str],
    *,
    name: str,
    region: str,
    endpoint_url: str | None,
) -> dict[str, str]:
    """The template's environment (resolved), what the Lambda runtime sets, and the AWS endpoint.

    Nothing else of this process's environment leaks in, except ``PATH``.
    """
    paths = [str(spec.code_dir), *(str(layer) for layer in spec.layer_dirs)]
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": "UTC",
        "PYTHONPATH": os.pathsep.join(paths),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_SAM_LOCAL": "true",  # as `sam local` sets it: Powertools turns tracing off
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        **DUMMY_CREDENTIALS,
        **resolved,
    }
    if endpoint_url:
        environment["AWS_ENDPOINT_URL"] = endpoint_url
    return environment


class Invoker(Protocol):
    """What invokes a function: a worker here, a fake in tests."""

    spec: FunctionSpec

    def invoke(self, event: Any, *, request_id: str | None = None) -> Invocation: ...

    def stop(self) -> None: ...


class WorkerCrashed(Exception):
    pass


class FunctionWorker:
    """One function's warm container."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: Mapping[str, str],
        *,
        name: str,
        region: str,
        clock_offset: Callable[[], float] = lambda: 0.0,
        stderr: IO[Any] | None = None,
    ) -> None:
        self.spec = spec
        self.name = name
        self._environment = dict(environment)
        self._arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
        self._clock_offset = clock_offset
        self._stderr = stderr
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._stopped = False

    def invoke(self, event: Any, *, request_id: str | None = None) -> Invocation:
        """Run the handler on ``event``, as ``Invoke`` with ``RequestResponse`` would."""
        request_id = request_id or str(uuid.uuid4())
        with self._lock:
            started = time.monotonic()
            if self._stopped:
                return Invocation(error=_runtime_error("Runtime.Stopped", "the local stack is stopping"))
            try:
                process = self._running()
            except WorkerCrashed as exc:
                self._kill()
                return Invocation(error=_runtime_error("Runtime.InitError", str(exc)))
            deadline = time.monotonic() + self.spec.timeout  # the init phase has its own limit
            request = {
                "event": event,
                "clock_offset_seconds": self._clock_offset(),
                "context": {
                    "function_name": self.name,
                    "invoked_function_arn": self._arn,
                    "memory_limit_in_mb": self.spec.memory_size,
                    "aws_request_id": request_id,
                    "deadline_ms": int((time.time() + self.spec.timeout) * 1000),
                },
            }
            try:
                assert process.stdin is not None
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
                answer = self._read_line(deadline)
            except (OSError, WorkerCrashed) as exc:
                self._kill()
                return Invocation(error=_runtime_error("Runtime.ExitError", f"RequestId: {request_id} {exc}"))
            duration_ms = (time.monotonic() - started) * 1000
            if answer is None:
                self._kill()
                message = f"RequestId: {request_id} Task timed out after {self.spec.timeout:.2f} seconds"
                return Invocation(error=_runtime_error("Sandbox.Timedout", message), duration_ms=duration_ms)
            if "error" in answer:
                return Invocation(error=answer["error"], duration_ms=duration_ms)
            return Invocation(result=answer.get("result"), duration_ms=duration_ms)

    def stop(self) -> None:
        """End the container, even in the middle of an invocation (which then fails)."""
        self._stopped = True
        process = self._process
        if process is None:
            return
        try:
            assert process.stdin is not None
            process.stdin.close()  # the worker exits at the end of its input
            process.wait(timeout=2)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()

    def _running(self) -> "subprocess.Popen[bytes]":
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._buffer = b""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "agentmessage_local.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=self._environment,
            cwd=self.spec.code_dir,
            process_group=0,  # Ctrl-C in the terminal reaches the stack, which stops the workers
        )
        ready = self._read_line(time.monotonic() + INIT_TIMEOUT_SECONDS)
        if ready is None or not ready.get("ready"):
            raise WorkerCrashed(f"{self.spec.logical_id}: the worker did not start")
        return self._process

    def _read_line(self, deadline: float) -> dict[str, Any] | None:
        """The worker's next answer; ``None`` when the deadline passes first."""
        assert self._process is not None
        assert self._process.stdout is not None
        channel = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([channel], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(channel, 65536)
            if not chunk:
                raise WorkerCrashed(f"{self.spec.logical_id}: the worker exited")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


def _runtime_error(kind: str, message: str) -> dict[str, Any]:
    return {"errorType": kind, "errorMessage": message, "stackTrace": []}


class ScalingFunction:
    """One function's workers: one per concurrent invocation, up to ``max_concurrency``."""

    def __init__(
        self,
        spec: FunctionSpec,
        new_worker: Callable[[], Invoker],
        *,
        max_concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.spec = spec
        self.max_concurrency = max_concurrency
        self._new_worker = new_worker
        self._condition = threading.Condition()
        self._workers: list[Invoker] = []
        self._idle: list[Invoker] = []  # the most recently used last
        self._stopped = False

    @property
    def size(self) -> int:
        """How many workers (execution environments) the function has started."""
        with self._condition:
            return len(self._workers)

    def invoke(self, event: Any, *, request_id: str | None = None) -> Invocation:
        worker = self._acquire()
        if worker is None:
            return Invocation(error=_runtime_error("Runtime.Stopped", "the local stack is stopping"))
        try:
            return worker.invoke(event, request_id=request_id)
        finally:
            self._release(worker)

    def _acquire(self) -> Invoker | None:
        with self._condition:
            while not self._stopped:
                if self._idle:
                    return self._idle.pop()
                if len(self._workers) < self.max_concurrency:
                    worker = self._new_worker()
                    self._workers.append(worker)
                    return worker
                self._condition.wait()
            return None

    def _release(self, worker: Invoker) -> None:
        with self._condition:
            if not self._stopped:
                self._idle.append(worker)
            self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            workers = list(self._workers)
            self._condition.notify_all()
        for worker in workers:
            worker.stop()


def concurrency_limit(spec: FunctionSpec, default: int = DEFAULT_CONCURRENCY) -> int:
    """The template's ``ReservedConcurrentExecutions`` when lower than ``default``."""
    reserved = spec.reserved_concurrency
    return default if reserved is None else max(1, min(default, reserved))


class WorkerPool:
    """Every function's worker, by logical id."""

    def __init__(self, workers: Mapping[str, Invoker]) -> None:
        self._workers = dict(workers)

    def __getitem__(self, logical_id: str) -> Invoker:
        return self._workers[logical_id]

    def __contains__(self, logical_id: object) -> bool:
        return logical_id in self._workers

    def stop(self) -> None:
        for worker in self._workers.values():
            worker.stop()
