"""POST /v1/messages: accept a message for sending now or at ``scheduled_at``."""

from functools import cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from agentmessage import aws_clients, clock
from agentmessage.api import build_resolver, caller, ok, request_body
from agentmessage.auth import Caller, Scope
from agentmessage.aws_triggers import AwsDispatchTriggers
from agentmessage.dynamo_messages import DynamoMessageRepository
from agentmessage.idempotency import HEADER, Idempotent, checked_key
from agentmessage.messages import accept_message
from agentmessage.observability import logger, metrics
from agentmessage.requests import parse_json_object, parse_send_request
from agentmessage.settings import SendSettings, load

app = build_resolver()


def accept(payload: dict[str, Any], sender: Caller, **_: Any) -> dict[str, Any]:
    request = parse_send_request(payload)
    settings = load(SendSettings)
    message = accept_message(
        request,
        sender,
        repository=DynamoMessageRepository(
            aws_clients.dynamodb(), settings.messages_table, settings.due_shards
        ),
        triggers=AwsDispatchTriggers(
            aws_clients.sqs(),
            aws_clients.scheduler(),
            queue_url=settings.dispatch_queue_url,
            queue_arn=settings.dispatch_queue_arn,
            group=settings.schedule_group,
            role_arn=settings.scheduler_role_arn,
            dead_letter_arn=settings.schedule_dlq_arn,
        ),
        now=clock.utc_now(),
    )
    return message.to_api()


@cache
def idempotent_accept() -> Idempotent:
    return Idempotent(aws_clients.dynamodb(), load(SendSettings).idempotency_table, accept)


@app.post("/v1/messages")
def send_message() -> Response[str]:
    sender = caller(app, Scope.SEND)
    key = checked_key(app.current_event.headers.get(HEADER))
    payload = parse_json_object(request_body(app))
    if key is None:
        return ok(app, HTTPStatus.ACCEPTED, accept(payload, sender))
    # The stored answer is returned before validation, so a retry of an accepted request is
    # answered the same even once its scheduled_at has come closer than the 60 s minimum.
    once = idempotent_accept()
    once.register(app.lambda_context)
    return ok(app, HTTPStatus.ACCEPTED, once.run(sender.org_id, key, payload, payload=payload, sender=sender))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
