"""One function's container: ``python -m agentmessage_local.worker``, started by the local stack.

Like a Lambda execution environment, it imports the handler named by ``_HANDLER`` once (the
init phase), then serves invocations one at a time until its stdin closes. The environment,
including ``PYTHONPATH`` (the function's code folder, then its layers), is set by whoever
starts it; nothing here reads the template.

The protocol is JSON lines. The worker writes ``{"ready": true, "init_ms": ...}`` once, then for
each request line ``{"event": ..., "context": {...}, "clock_offset_seconds": ...}`` one answer:
``{"result": ...}`` or ``{"error": {"errorType": ..., "errorMessage": ..., "stackTrace": [...]}}``.
Answers go to the process's original stdout; the function's own stdout (Powertools logs, EMF
metrics) is sent to stderr, so logs never mix with answers.

``clock_offset_seconds`` is the local stack's time travel: ``agentmessage.domain.clock.utc_now`` is
replaced by one that adds the offset, so the production code reads the stack's clock untouched.
"""

import importlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TextIO

Handler = Callable[[dict[str, Any], Any], Any]

_offset = timedelta(0)


class LocalLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.function_name: str = fields["function_name"]
        self.function_version: str = "$LATEST"
        self.invoked_function_arn: str = fields["invoked_function_arn"]
        self.memory_limit_in_mb: int = int(fields["memory_limit_in_mb"])
        self.aws_request_id: str = fields["aws_request_id"]
        self.log_group_name: str = f"/aws/lambda/{self.function_name}"
        self.log_stream_name: str = "local"
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self._deadline_ms: int = int(fields["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _install_shifted_clock() -> None:
    """Make ``agentmessage.domain.clock.utc_now`` read the stack's clock: real time plus the offset."""
    try:
        from agentmessage.domain import clock
    except ImportError:  # a function without the layer: nothing to shift
        return
    real_utc_now = clock.utc_now

    def shifted_utc_now() -> datetime:
        return real_utc_now() + _offset

    clock.utc_now = shifted_utc_now


def _load_handler(name: str) -> Handler:
    module_name, _, function_name = name.rpartition(".")
    module = importlib.import_module(module_name.replace("/", "."))
    handler: Handler = getattr(module, function_name)
    return handler


def _error(kind: str, exc: BaseException | None, message: str | None = None) -> dict[str, Any]:
    stack = traceback.format_tb(exc.__traceback__) if exc is not None else []
    return {
        "errorType": kind,
        "errorMessage": message if message is not None else str(exc),
        "stackTrace": [line.rstrip("\n") for line in stack],
    }


def _log_error(error: dict[str, Any], request_id: str) -> None:
    """As the Lambda runtime does: the error and its trace in the function's log."""
    print(f"[ERROR] {error['errorType']}: {error['errorMessage']} (request {request_id})", file=sys.stderr)
    for line in error["stackTrace"]:
        print(line, file=sys.stderr)


def _answer(channel: TextIO, reply: dict[str, Any]) -> None:
    try:
        text = json.dumps(reply, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        text = json.dumps(
            {"error": _error("Runtime.MarshalError", exc, f"Unable to marshal response: {exc}")}
        )
    channel.write(text + "\n")
    channel.flush()


def _invoke(
    handler: Handler | None, init_error: dict[str, Any] | None, request: dict[str, Any]
) -> dict[str, Any]:
    global _offset
    _offset = timedelta(seconds=float(request.get("clock_offset_seconds", 0)))
    context = LocalLambdaContext(request["context"])
    if handler is None:
        assert init_error is not None
        _log_error(init_error, context.aws_request_id)
        return {"error": init_error}
    try:
        return {"result": handler(request["event"], context)}
    except Exception as exc:
        error = _error(type(exc).__name__, exc)
        _log_error(error, context.aws_request_id)
        return {"error": error}


def main() -> None:
    # Ctrl-C is the stack's to handle: it closes our stdin, and we exit when it does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    started = time.perf_counter()
    _install_shifted_clock()
    handler: Handler | None = None
    init_error: dict[str, Any] | None = None
    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except Exception as exc:
        init_error = _error("Runtime.ImportModuleError", exc, f"Unable to import module: {exc}")
    _answer(channel, {"ready": True, "init_ms": round((time.perf_counter() - started) * 1000, 1)})

    for line in sys.stdin:
        if line.strip():
            _answer(channel, _invoke(handler, init_error, json.loads(line)))


if __name__ == "__main__":
    main()
