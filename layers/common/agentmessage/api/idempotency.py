"""``Idempotency-Key`` for sends: Powertools idempotency on the Idempotency table.

A record is keyed by the org and the client's key and kept 24 hours. The same key with the same
request answers the first response again and creates nothing; with another request it is
``IDEMPOTENCY_KEY_REUSED``; while the first is still running it is ``IDEMPOTENCY_IN_PROGRESS``.
"""

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.dynamodb import DynamoDBPersistenceLayer

from agentmessage.api.errors import IdempotencyInProgress
from agentmessage.domain.errors import AgentMessageError, RequestKeyReused, Unavailable, ValidationFailed
from agentmessage.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

HEADER = "Idempotency-Key"
RETENTION_SECONDS = 24 * 60 * 60
_MAX_KEY_LENGTH = 255


def checked_key(value: str | None) -> str | None:
    """The header's value, or ``ValidationFailed`` when it is empty, too long or not printable ASCII."""
    if value is None:
        return None
    if not 1 <= len(value) <= _MAX_KEY_LENGTH or not value.isascii() or not value.isprintable():
        raise ValidationFailed({HEADER: f"must be 1..{_MAX_KEY_LENGTH} printable ASCII characters"})
    return value


class Operation(Protocol):
    def __call__(self, *, idempotency: dict[str, Any], **kwargs: Any) -> dict[str, Any]: ...


class Idempotent:
    """Runs an operation at most once per (org, key) and request body."""

    def __init__(
        self, client: "DynamoDBClient", table: str, operation: Callable[..., dict[str, Any]]
    ) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath="[org_id, key]",
            payload_validation_jmespath="request",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=RETENTION_SECONDS,
        )
        persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=client)
        self._finished = threading.local()  # the operation's answer, once it has one

        def answering(**kwargs: Any) -> dict[str, Any]:
            answer = operation(**kwargs)
            self._finished.answer = answer
            return answer

        self._operation: Operation = idempotent_function(
            answering,
            data_keyword_argument="idempotency",
            persistence_store=persistence,
            config=self._config,
            key_prefix="messages.send",
        )

    def register(self, context: "LambdaContext") -> None:
        self._config.register_lambda_context(context)

    def run(self, org_id: str, key: str, fingerprint: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Run the operation with ``kwargs``, unless this org already ran it under ``key``.

        Once the operation has answered, its answer stands: a record that could not be completed
        afterwards (the table throttling, say) costs the next retry a second run, which the
        operation's own request key answers the same (it stores no second message)."""
        self._finished.answer = None
        try:
            return self._operation(
                idempotency={"org_id": org_id, "key": key, "request": fingerprint}, key=key, **kwargs
            )
        except IdempotencyValidationError as exc:
            raise RequestKeyReused() from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise IdempotencyInProgress() from exc
        except IdempotencyPersistenceLayerError as exc:
            answer: dict[str, Any] | None = self._finished.answer
            if answer is not None:
                logger.warning("idempotency record not completed; the answer stands")
                return answer
            refusal = _operation_error(exc)
            if refusal is not None:  # the operation refused, and its record could not be removed
                raise refusal from exc
            raise Unavailable() from exc


def _operation_error(exc: BaseException) -> AgentMessageError | None:
    """The operation's own error behind a persistence failure (the record's removal after it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, AgentMessageError):
            return current
        current = current.__cause__ or current.__context__
    return None
