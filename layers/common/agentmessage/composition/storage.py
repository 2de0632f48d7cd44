"""Cached factories for the stores every API function reads: made once per container and limits."""

from agentmessage.composition.cached import cached
from agentmessage.integration import aws_clients
from agentmessage.integration.api_keys_table import DynamoKeyStore
from agentmessage.integration.messages_table import DynamoMessageRepository
from agentmessage.integration.time_budget import CallLimits


@cached
def message_repository(
    table: str, limits: CallLimits, due_shards: int = 4, once_table: str | None = None
) -> DynamoMessageRepository:
    return DynamoMessageRepository(aws_clients.dynamodb(limits), table, due_shards, once_table)


@cached
def key_store(table: str, limits: CallLimits) -> DynamoKeyStore:
    return DynamoKeyStore(aws_clients.dynamodb(limits), table)


def clear() -> None:
    """Forget every store (tests: a new container)."""
    message_repository.cache_clear()
    key_store.cache_clear()
