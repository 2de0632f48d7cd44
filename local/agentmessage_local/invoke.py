"""``agentmessage invoke``: one function run on one event, as ``sam local invoke`` runs it.

The template's handler, environment and layer, in a fresh worker process (a cold start). The
environment is resolved against the running local stack (its tables, queues and endpoint, and
its clock); with no stack running, resource names are placeholders and AWS calls go to
``--endpoint-url`` (or ``AWS_ENDPOINT_URL``) with dummy credentials, never to an account.
"""

import json
import os
import urllib.request
from dataclasses import dataclass
from typing import Any

from agentmessage_local.resources import REGION, planned_stack
from agentmessage_local.state import LocalState
from agentmessage_local.template import functions
from agentmessage_local.workers import FunctionWorker, Invocation, function_name, lambda_environment


@dataclass(frozen=True)
class InvokeOutcome:
    invocation: Invocation
    note: str | None  # how the environment was resolved, when not against a running stack


class UnknownFunction(Exception):
    pass


def _stack_clock_offset(state: LocalState) -> float:
    """The running stack's time-travel offset, so an invoked function shares its clock."""
    try:
        with urllib.request.urlopen(f"{state.gateway_url}/_local/clock", timeout=2) as response:  # noqa: S310
            offset: float = json.load(response)["data"]["offset_seconds"]
            return offset
    except (OSError, ValueError, KeyError):
        return 0.0


def invoke_function(
    logical_id: str, event: Any, *, state: LocalState | None, endpoint_url: str | None = None
) -> InvokeOutcome:
    specs = functions()
    if logical_id not in specs:
        raise UnknownFunction(
            f"no function {logical_id!r} in the template; one of: {', '.join(sorted(specs))}"
        )
    spec = specs[logical_id]
    note = None
    offset = 0.0
    if state is not None and endpoint_url is None:
        stack = state.resources()
        endpoint_url = state.endpoint_url
        offset = _stack_clock_offset(state)
    else:
        stack = planned_stack(prefix="agentmessage-dev")
        endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        note = (
            "no local stack running: resource names in the environment are placeholders "
            f"(e.g. {stack.refs.get('MessagesTable')}); AWS calls go to "
            f"{endpoint_url or 'the default AWS endpoints with dummy credentials, and fail'}. "
            "Start the stack with `make run` to invoke against it."
        )
    name = function_name(spec, stack.prefix)
    worker = FunctionWorker(
        spec,
        lambda_environment(
            spec, stack.environment(spec), name=name, region=REGION, endpoint_url=endpoint_url
        ),
        name=name,
        region=REGION,
        clock_offset=lambda: offset,
    )
    try:
        return InvokeOutcome(invocation=worker.invoke(event), note=note)
    finally:
        worker.stop()
