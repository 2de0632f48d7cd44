"""DELETE /v1/messages/{id}: cancel a queued message (idempotent; 409 once it is sending)."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from agentmessage import aws_clients, clock
from agentmessage.api import build_resolver, caller, ok
from agentmessage.auth import Scope
from agentmessage.aws_triggers import ScheduleRemover
from agentmessage.dynamo_messages import DynamoMessageRepository
from agentmessage.messages import cancel_message
from agentmessage.observability import logger, metrics
from agentmessage.settings import CancelSettings, load

app = build_resolver()


@app.delete("/v1/messages/<message_id>")
def cancel(message_id: str) -> Response[str]:
    sender = caller(app, Scope.SEND)
    settings = load(CancelSettings)
    message = cancel_message(
        sender,
        message_id,
        repository=DynamoMessageRepository(aws_clients.dynamodb(), settings.messages_table),
        schedules=ScheduleRemover(aws_clients.scheduler(), settings.schedule_group),
        now=clock.utc_now(),
    )
    return ok(app, HTTPStatus.OK, message.to_api())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
