"""Counting the DynamoDB calls a handler makes, with botocore's event hooks on the shared clients."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from agentmessage.integration import aws_clients, time_budget
from agentmessage.integration.time_budget import CallLimits


@dataclass(frozen=True)
class DynamoCall:
    operation: str
    params: dict[str, Any]


@dataclass
class DynamoCalls:
    calls: list[DynamoCall] = field(default_factory=list)

    @property
    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    def clear(self) -> None:
        self.calls.clear()

    def record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        # ``before-call`` fires once per API call (not per retry) with the request as serialized,
        # so ``params`` here is what goes on the wire.
        body = params.get("body") or b"{}"
        self.calls.append(DynamoCall(operation=model.name, params=json.loads(body)))


def every_call_limits() -> list[CallLimits]:
    """Each ``CallLimits`` a function's client may be made with."""
    return [value for value in vars(time_budget).values() if isinstance(value, CallLimits)]


@contextmanager
def dynamodb_calls(client: Any = None) -> Iterator[DynamoCalls]:
    """Record every call made inside the block through ``client``, or through every DynamoDB client
    the functions may use (the shared clients of ``aws_clients``, one per call limits)."""
    recorder = DynamoCalls()
    unique_id = f"count-dynamodb-calls-{id(recorder)}"
    clients = (
        [client] if client is not None else [aws_clients.dynamodb(limits) for limits in every_call_limits()]
    )
    for each in clients:
        each.meta.events.register("before-call.dynamodb", recorder.record, unique_id=unique_id)
    try:
        yield recorder
    finally:
        for each in clients:
            each.meta.events.unregister("before-call.dynamodb", unique_id=unique_id)
