"""DELETE /v1/messages/{id}: cancel a queued message (idempotent; 409 once it is sending)."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from agentmessage.api.caller import caller
from agentmessage.api.resolver import build_resolver
from agentmessage.api.v1.envelope import RENDERER, ok
from agentmessage.api.v1.representation import to_v1
from agentmessage.composition.sending import schedule_remover
from agentmessage.composition.settings import CancelSettings, load
from agentmessage.composition.storage import message_repository
from agentmessage.domain import clock
from agentmessage.domain.caller import Scope
from agentmessage.domain.cancel import cancel_message
from agentmessage.integration.time_budget import API_ONCE, API_READ
from agentmessage.observability import logger, metrics

load(CancelSettings)  # at init: a bad environment fails the cold start, not every request
app = build_resolver(RENDERER)


@app.delete("/v1/messages/<message_id>")
def cancel(message_id: str) -> Response[str]:
    sender = caller(app, Scope.SEND)
    settings = load(CancelSettings)
    message = cancel_message(
        sender,
        message_id,
        repository=message_repository(settings.messages_table, API_READ),
        schedules=schedule_remover(settings.schedule_group, API_ONCE),
        now=clock.utc_now(),
    )
    return ok(app, HTTPStatus.OK, to_v1(message))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
