"""Guarantees tier: the design's three guarantees, proven against a real moto server (HTTP on
127.0.0.1, one thread per request) with real concurrency from the test's threads.

One server for the session; a fresh stack (tables, queues, schedule group from
``infra/template.yaml``, under a unique prefix) for each test, and every function's environment
pointing at it through ``AWS_ENDPOINT_URL``, as a deployed function's would point at AWS.

DynamoDB applies each write to an item atomically: a conditional update's check and its write
cannot interleave with another write to the same item. Those are the semantics the guarantees
rest on ("exactly one of them wins"). moto's in-memory backend does not lock, so under a threaded
server two updates of one item interleave inside moto itself (without the lock, the 500-trial
cancel race saw a message both canceled and delivered in each of two runs). ``moto_endpoint``
gives moto's item writes DynamoDB's atomicity (one lock around each write call, nothing more), so
that a failure here is the product's, not the emulator's. ``test_cancel_race`` also shows that a
claim which is not one conditional write is caught under this harness.
"""

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import wraps
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.config import Config
from moto.dynamodb.models import DynamoDBBackend
from moto.server import ThreadedMotoServer

from agentmessage.domain.message import Message
from agentmessage.integration.message_items import from_item
from agentmessage.integration.messages_table import DynamoMessageRepository
from agentmessage.observability import metrics
from agentmessage_local.resources import REGION, Stack, create_stack
from agentmessage_local.template import functions
from tests.support.containers import new_container

_ITEM_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_CLIENT_CONFIG = Config(max_pool_connections=32, retries={"mode": "standard", "max_attempts": 3})


def _atomic(method: Callable[..., Any], lock: threading.RLock) -> Callable[..., Any]:
    @wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return locked


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A threaded moto server on a free port of 127.0.0.1, for the whole session."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    lock = threading.RLock()
    with ExitStack() as patches:
        for name in _ITEM_WRITES:
            patches.enter_context(
                mock.patch.object(DynamoDBBackend, name, _atomic(getattr(DynamoDBBackend, name), lock))
            )
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@dataclass
class World:
    """One test's stack on the moto server."""

    endpoint: str
    session: boto3.session.Session
    stack: Stack
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """One client per service (clients are thread-safe; making one costs tens of ms)."""
        if service not in self._clients:
            self._clients[service] = self.session.client(  # type: ignore[call-overload]
                service, endpoint_url=self.endpoint, region_name=REGION, config=_CLIENT_CONFIG
            )
        return self._clients[service]

    @property
    def table(self) -> str:
        return self.stack.refs["MessagesTable"]

    def repository(self, due_shards: int = 4) -> DynamoMessageRepository:
        return DynamoMessageRepository(self.client("dynamodb"), self.table, due_shards)

    def stored(self, org_id: str, message_id: str) -> Message:
        message = self.repository().get(org_id, message_id)
        assert message is not None
        return message

    def stored_many(self, org_id: str, message_ids: list[str]) -> dict[str, Message]:
        """Many messages in few calls (BatchGetItem, 100 keys a call), by id."""
        client = self.client("dynamodb")
        found: dict[str, Message] = {}
        for start in range(0, len(message_ids), 100):
            keys = [
                {"org_id": {"S": org_id}, "id": {"S": message_id}}
                for message_id in message_ids[start : start + 100]
            ]
            request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table, []):
                    message = from_item(item)
                    found[message.id] = message
                request = response.get("UnprocessedKeys") or {}
        assert len(found) == len(set(message_ids))
        return found


def _fresh_caches() -> None:
    new_container()


@pytest.fixture
def world(moto_endpoint: str, _aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    session = boto3.session.Session(region_name=REGION)
    stack = create_stack(session, prefix=f"g{uuid.uuid4().hex[:10]}", endpoint_url=moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for spec in functions().values():
        for name, value in stack.environment(spec).items():
            monkeypatch.setenv(name, value)
    # The shared Metrics object read its namespace when first imported (maybe at collection).
    monkeypatch.setattr(metrics, "namespace", "AgentMessage")
    _fresh_caches()
    yield World(endpoint=moto_endpoint, session=session, stack=stack)
    _fresh_caches()
    metrics.clear_metrics()
