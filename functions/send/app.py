"""POST /v1/messages: accept a message for sending now or at ``scheduled_at``."""

from functools import partial
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from agentmessage.api.caller import caller
from agentmessage.api.idempotency import HEADER, checked_key
from agentmessage.api.json_body import parse_json_object
from agentmessage.api.resolver import build_resolver, request_body
from agentmessage.api.v1.envelope import RENDERER, ok
from agentmessage.api.v1.requests import accept_body
from agentmessage.composition.sending import idempotent, send_triggers
from agentmessage.composition.settings import SendSettings, load
from agentmessage.composition.storage import message_repository
from agentmessage.domain import clock
from agentmessage.domain.accept import accept_message
from agentmessage.domain.caller import Caller, Scope
from agentmessage.integration.time_budget import API_ONCE
from agentmessage.observability import logger, metrics

load(SendSettings)  # at init: a bad environment fails the cold start, not every request
app = build_resolver(RENDERER)


def accept(payload: dict[str, Any], sender: Caller, key: str | None = None, **_: Any) -> dict[str, Any]:
    """Accept the body's message (once per ``key``); its v1 representation."""
    settings = load(SendSettings)
    now = clock.utc_now()
    use_case = partial(
        accept_message,
        caller=sender,
        repository=message_repository(
            settings.messages_table, API_ONCE, settings.due_shards, settings.idempotency_table
        ),
        triggers=send_triggers(settings, API_ONCE),
        now=now,
        request_key=key,
    )
    return dict(accept_body(payload, sender, now=now, accept=use_case))


@app.post("/v1/messages")
def send_message() -> Response[str]:
    sender = caller(app, Scope.SEND)
    key = checked_key(app.current_event.headers.get(HEADER))
    payload = parse_json_object(request_body(app))
    if key is None:
        return ok(app, HTTPStatus.ACCEPTED, accept(payload, sender))
    # The stored answer is returned before validation, so a retry of an accepted request is
    # answered the same even once its scheduled_at has come closer than the 60 s minimum.
    once = idempotent(load(SendSettings).idempotency_table, API_ONCE, accept)
    once.register(app.lambda_context)
    return ok(
        app,
        HTTPStatus.ACCEPTED,
        once.run(sender.org_id, key, payload, payload=payload, sender=sender),
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
