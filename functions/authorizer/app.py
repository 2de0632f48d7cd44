"""The REQUEST authorizer: an ``am_live_`` / ``am_test_`` key to its org, scopes and mode.

Unknown, revoked and malformed keys raise ``Unauthorized``, which API Gateway answers as 401
(its UNAUTHORIZED gateway response). A known key gets an Allow policy for the whole API, so the
result, cached 300 s per Authorization header, serves every route; each handler checks its scope.
"""

from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from agentmessage.composition.settings import AuthorizerSettings, load
from agentmessage.composition.storage import key_store
from agentmessage.integration.time_budget import API_READ
from agentmessage.keys.resolve import authorization_header, resolve_key
from agentmessage.observability import logger

load(AuthorizerSettings)  # at init: a bad environment fails the cold start, not every request


class Unauthorized(Exception):
    def __init__(self) -> None:
        super().__init__("Unauthorized")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = APIGatewayAuthorizerRequestEvent(event)
    store = key_store(load(AuthorizerSettings).api_keys_table, API_READ)
    authorization = authorization_header(event.get("headers"), event.get("multiValueHeaders"))
    record = resolve_key(authorization, store)
    if record is None:
        logger.info("key rejected")
        raise Unauthorized()
    logger.append_keys(org_id=record.org_id, key_id=record.key_id)
    logger.info("key accepted")
    arn = request.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=record.key_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        partition=arn.partition,
        context={
            "org_id": record.org_id,
            "scopes": " ".join(record.scopes),
            "key_id": record.key_id,
            "mode": record.mode.value,
        },
    )
    policy.allow_all_routes()
    return policy.asdict()
