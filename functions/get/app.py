"""GET /v1/messages/{id}: one message of the caller's org (another org's id is 404)."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from agentmessage.api.caller import caller
from agentmessage.api.resolver import build_resolver
from agentmessage.api.v1.envelope import RENDERER, ok
from agentmessage.api.v1.representation import to_v1
from agentmessage.composition.settings import ReadSettings, load
from agentmessage.composition.storage import message_repository
from agentmessage.domain.caller import Scope
from agentmessage.domain.read import get_message
from agentmessage.integration.time_budget import API_READ
from agentmessage.observability import logger

load(ReadSettings)  # at init: a bad environment fails the cold start, not every request
app = build_resolver(RENDERER)


@app.get("/v1/messages/<message_id>")
def read_message(message_id: str) -> Response[str]:
    reader = caller(app, Scope.READ)
    repository = message_repository(load(ReadSettings).messages_table, API_READ)
    return ok(app, HTTPStatus.OK, to_v1(get_message(reader, message_id, repository=repository)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
