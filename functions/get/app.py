"""GET /v1/messages/{id}: one message of the caller's org (another org's id is 404)."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from agentmessage import aws_clients
from agentmessage.api import build_resolver, caller, ok
from agentmessage.auth import Scope
from agentmessage.dynamo_messages import DynamoMessageRepository
from agentmessage.messages import get_message
from agentmessage.observability import logger
from agentmessage.settings import ReadSettings, load

app = build_resolver()


@app.get("/v1/messages/<message_id>")
def read_message(message_id: str) -> Response[str]:
    reader = caller(app, Scope.READ)
    repository = DynamoMessageRepository(aws_clients.dynamodb(), load(ReadSettings).messages_table)
    return ok(app, HTTPStatus.OK, get_message(reader, message_id, repository=repository).to_api())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
