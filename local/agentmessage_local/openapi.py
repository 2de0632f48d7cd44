"""The API's OpenAPI document, generated from the code with Powertools.

The handlers parse their bodies themselves (no Powertools validation: it lengthens cold
starts), so the document is built here: every route of the template (each function's ``Api``
event: its method and path) is registered on a documentation-only ``APIGatewayRestResolver``
with what ``OPERATIONS`` says of that function: ``SendMessageRequest`` as the request body, the
message as the API shows it (``Message`` less its internal fields) in the success envelope, the
error envelope for every status a route can answer (statuses and codes taken from the domain
errors each route raises), and links from an answer's message id to the routes that take one.
A route without an entry, or an entry without a route, stops the generation. ``make openapi``
writes the document to ``docs/openapi.json``; a test fails when the two differ, or when the
document's routes are not the template's and the functions' own resolvers'.
"""

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from pydantic import BaseModel, Field, JsonValue, create_model

from agentmessage.api import errors as api_errors
from agentmessage.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from agentmessage.api.v1.errors import ERRORS, v1_error
from agentmessage.api.v1.representation import V1Message
from agentmessage.api.v1.requests import SendMessageRequest
from agentmessage.domain import errors
from agentmessage.domain.rules import E164
from agentmessage_local.api_definition import ApiEvent, api_events

TITLE = "AgentMessage API"
API_VERSION = "1"
SECURITY_SCHEME = "bearerAuth"
# The representation's types by the names the document gives them.
SCHEMA_NAMES = {"V1Message": "Message", "V1Cost": "Cost", "V1MessageError": "MessageError"}

# The message as every route answers it: the v1 representation itself.
MessageEnvelope: type[BaseModel] = create_model(
    "MessageEnvelope",
    __doc__="A successful answer.",
    success=(Literal[True], ...),
    data=(V1Message, ...),
)

ERROR_CODES = sorted({entry.code for entry in ERRORS.values()})


class ErrorBody(BaseModel):
    code: str = Field(json_schema_extra={"enum": list[JsonValue](ERROR_CODES)})
    message: str
    request_id: str = Field(description="API Gateway's request id, also the X-Request-Id header")
    details: dict[str, str] | None = Field(
        default=None, description="Only where it helps: for validation, each invalid field and what is wrong"
    )


class ErrorEnvelope(BaseModel):
    """A failed answer, from a handler or from API Gateway itself."""

    success: Literal[False]
    error: ErrorBody


# OpenAPI's header object has "required"; Powertools' TypedDict does not list it, but passes it on.
_REQUEST_ID_HEADER: OpenAPIResponseHeader = {  # type: ignore[typeddict-unknown-key]
    "description": "API Gateway's request id",
    "required": True,
    "schema": {"type": "string"},
}
_RETRY_AFTER_HEADER: OpenAPIResponseHeader = {
    "description": "seconds to wait before retrying",
    "schema": {"type": "string"},
}

Raised = type[errors.AgentMessageError]
# What each route can answer besides success: the errors it raises, and those API Gateway
# answers for it (401 from the authorizer, 429 throttling).
_COMMON: tuple[Raised, ...] = (
    api_errors.Unauthorized,
    api_errors.RateLimited,
    errors.AgentMessageError,
    errors.Unavailable,
)
SEND_ERRORS: tuple[Raised, ...] = (
    api_errors.BadRequest,
    errors.ScopeMissing,
    api_errors.IdempotencyInProgress,
    errors.ValidationFailed,
    errors.RequestKeyReused,
    *_COMMON,
)
GET_ERRORS: tuple[Raised, ...] = (errors.ScopeMissing, errors.MessageNotFound, *_COMMON)
CANCEL_ERRORS: tuple[Raised, ...] = (
    errors.ScopeMissing,
    errors.MessageNotFound,
    errors.MessageNotCancelable,
    *_COMMON,
)


def _responses(status: HTTPStatus, description: str, raised: Iterable[Raised]) -> dict[int, OpenAPIResponse]:
    responses: dict[int, OpenAPIResponse] = {
        int(status): {
            "description": description,
            "headers": {"X-Request-Id": _REQUEST_ID_HEADER},
            "content": {"application/json": {"model": MessageEnvelope}},
        }
    }
    by_status: dict[int, list[Raised]] = {}
    for cls in raised:
        by_status.setdefault(int(v1_error(cls).status), []).append(cls)
    for code in sorted(by_status):
        entries = [v1_error(cls) for cls in by_status[code]]
        headers: dict[str, OpenAPIResponseHeader] = {"X-Request-Id": _REQUEST_ID_HEADER}
        if any(entry.retry_after is not None for entry in entries):
            headers["Retry-After"] = _RETRY_AFTER_HEADER
        responses[code] = {
            "description": "; ".join(f"{entry.code}: {entry.message}" for entry in entries),
            "headers": headers,
            "content": {"application/json": {"model": ErrorEnvelope}},
        }
    return responses


MessageId = Annotated[str, Path(description="The message id (a UUID, version 7)")]
SECURITY: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}]


def send_message(  # pragma: no cover - documentation only, never called
    message: Annotated[SendMessageRequest, Body(embed=False)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="Makes the send idempotent for 24 hours (1..255 printable ASCII characters)",
        ),
    ] = None,
) -> None:
    raise NotImplementedError


def get_message(id: MessageId) -> None:  # pragma: no cover - documentation only
    raise NotImplementedError


def cancel_message(id: MessageId) -> None:  # pragma: no cover - documentation only
    raise NotImplementedError


def _link(operation_id: str, description: str) -> dict[str, Any]:
    """An OpenAPI link: the message id of a success answer, as the path id of ``operation_id``."""
    return {
        "operationId": operation_id,
        "parameters": {"id": "$response.body#/data/id"},
        "description": description,
    }


@dataclass(frozen=True)
class Operation:
    """What the document says of one function's route; the method and path come from the template."""

    operation_id: str
    summary: str
    description: str
    success: HTTPStatus
    success_description: str
    errors: tuple[Raised, ...]
    handler: Callable[..., None]
    links: dict[str, dict[str, Any]] = field(default_factory=dict)


# By the template's function logical id. A route in the template with no entry here, or an entry
# with no route, fails the document's generation (and so its test).
OPERATIONS: dict[str, Operation] = {
    "SendMessageFunction": Operation(
        operation_id="sendMessage",
        summary="Send a message",
        description=(
            "Accepts an SMS or MMS for sending now, or at `scheduled_at` (60 seconds to 35 days ahead). "
            "An `Idempotency-Key` makes a retry answer the first response again. Scope `messages:send`."
        ),
        success=HTTPStatus.ACCEPTED,
        success_description="Accepted: the message, queued",
        errors=SEND_ERRORS,
        handler=send_message,
        links={
            "GetMessage": _link("getMessage", "The accepted message, read back"),
            "CancelMessage": _link("cancelMessage", "The accepted message, canceled"),
        },
    ),
    "GetMessageFunction": Operation(
        operation_id="getMessage",
        summary="Get a message",
        description="One message of the caller's org; another org's id is 404. Scope `messages:read`.",
        success=HTTPStatus.OK,
        success_description="The message",
        errors=GET_ERRORS,
        handler=get_message,
        links={"CancelMessage": _link("cancelMessage", "The message, canceled")},
    ),
    "CancelMessageFunction": Operation(
        operation_id="cancelMessage",
        summary="Cancel a scheduled message",
        description=(
            "Cancels a queued message before it is sent; canceling a canceled message answers it again. "
            "Scope `messages:send`."
        ),
        success=HTTPStatus.OK,
        success_description="The message, canceled",
        errors=CANCEL_ERRORS,
        handler=cancel_message,
        links={"GetMessage": _link("getMessage", "The canceled message, read back")},
    ),
}


class UndocumentedRoute(Exception):
    pass


def documented_routes() -> list[tuple[ApiEvent, Operation]]:
    """Every route of the template with what the document says of it."""
    events = api_events()
    missing = [
        f"{event.method} {event.path} ({event.function_id})"
        for event in events
        if event.function_id not in OPERATIONS
    ]
    unused = sorted(set(OPERATIONS) - {event.function_id for event in events})
    if missing or unused:
        raise UndocumentedRoute(
            f"openapi.OPERATIONS and the template's Api events differ: routes without documentation: "
            f"{', '.join(missing) or 'none'}; documentation without a route: {', '.join(unused) or 'none'}"
        )
    return [(event, OPERATIONS[event.function_id]) for event in events]


def build_resolver() -> APIGatewayRestResolver:
    """The API's routes, for documentation only: each route of the template registered with its
    operation's models and answers (the handlers here are never called)."""
    app = APIGatewayRestResolver()
    for event, operation in documented_routes():
        responses = _responses(operation.success, operation.success_description, operation.errors)
        if operation.links:
            responses[int(operation.success)]["links"] = operation.links
        app.route(
            re.sub(r"\{([^}]+)\}", r"<\1>", event.path),
            event.method,
            summary=operation.summary,
            description=operation.description,
            operation_id=operation.operation_id,
            tags=["messages"],
            security=SECURITY,
            responses=responses,
        )(operation.handler)
    return app


def _references(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"].rsplit("/", 1)[-1]} if isinstance(value.get("$ref"), str) else set()
        return found.union(*(_references(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(item) for item in value))
    return set()


def _drop_unused_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """Keep the schemas the paths use, directly or not (Powertools adds some of its own)."""
    schemas = document["components"]["schemas"]
    used: set[str] = set()
    pending = _references(document["paths"])
    while pending:
        name = pending.pop()
        if name not in used:
            used.add(name)
            pending |= _references(schemas.get(name, {}))
    document["components"]["schemas"] = {name: schema for name, schema in schemas.items() if name in used}
    return document


def openapi_document() -> dict[str, Any]:
    text = build_resolver().get_openapi_json_schema(
        title=TITLE,
        version=API_VERSION,
        description=(
            "Send SMS and MMS now or at a scheduled time, read them back, cancel a scheduled send. "
            "Every answer is an envelope: `{success: true, data}` or `{success: false, error}`."
        ),
        servers=[Server(url="http://127.0.0.1:3000", description="the local stack (agentmessage local)")],
        security_schemes={
            SECURITY_SCHEME: HTTPBearer(
                description="An API key: am_live_<secret> or am_test_<secret>", bearerFormat="API key"
            )
        },
        security=[{SECURITY_SCHEME: []}],
    )
    for internal, public in SCHEMA_NAMES.items():
        text = text.replace(f'"#/components/schemas/{internal}"', f'"#/components/schemas/{public}"')
    document: dict[str, Any] = json.loads(text)
    schemas = document["components"]["schemas"]
    for internal, public in SCHEMA_NAMES.items():
        if internal in schemas:
            schemas[public] = {**schemas.pop(internal), "title": public}
    return _with_e164_patterns(_drop_unused_schemas(document))


def _with_e164_patterns(document: dict[str, Any]) -> dict[str, Any]:
    """``from`` and ``to`` carry the pattern the request model checks them with (a validator,
    which pydantic cannot put in the schema), in the request and in the message answered."""
    schemas = document["components"]["schemas"]
    for model in (SendMessageRequest.__name__, "Message"):
        for name in ("from", "to"):
            schemas[model]["properties"][name]["pattern"] = E164.pattern
    return document


def openapi_json() -> str:
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"
