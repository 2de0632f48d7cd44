"""The caller of an API request, as the authorizer described it in ``requestContext.authorizer``."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentmessage.api.errors import Unauthorized
from agentmessage.domain.caller import Caller, Scope
from agentmessage.domain.message import Mode

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver


def caller_from_authorizer(context: Mapping[str, Any] | None) -> Caller:
    """The authorizer's context, or ``Unauthorized`` when a request arrives without one.

    API Gateway passes context values as strings; ``scopes`` is space separated.
    """
    if not context:
        raise Unauthorized()
    org_id = context.get("org_id")
    key_id = context.get("key_id")
    mode = context.get("mode")
    scopes = context.get("scopes")
    if not (isinstance(org_id, str) and org_id and isinstance(key_id, str) and isinstance(scopes, str)):
        raise Unauthorized()
    if mode not in {Mode.LIVE.value, Mode.TEST.value}:
        raise Unauthorized()
    return Caller(org_id=org_id, key_id=key_id, mode=Mode(mode), scopes=frozenset(scopes.split()))


def caller(app: "APIGatewayRestResolver", scope: Scope) -> Caller:
    """The authenticated caller, holding ``scope``; 401 without authorizer context, 403 without scope."""
    return caller_from_authorizer(app.current_event.request_context.authorizer.raw_event).require(scope)
