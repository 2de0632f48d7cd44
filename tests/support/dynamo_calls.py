"""Counting the DynamoDB calls a handler makes, with botocore's event hooks on the shared client."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


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


@contextmanager
def dynamodb_calls(client: Any) -> Iterator[DynamoCalls]:
    """Record every call made through ``client`` (the handlers' cached client) inside the block."""
    recorder = DynamoCalls()
    unique_id = f"count-dynamodb-calls-{id(recorder)}"
    client.meta.events.register("before-call.dynamodb", recorder.record, unique_id=unique_id)
    try:
        yield recorder
    finally:
        client.meta.events.unregister("before-call.dynamodb", unique_id=unique_id)
