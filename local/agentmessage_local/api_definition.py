"""The REST API as the template defines it: stage, routes, the authorizer, gateway responses.

Routes come from each function's ``Events`` of ``Type: Api`` on the template's
``AWS::Serverless::Api``; the API's ``Auth`` gives the default authorizer (an event may name
another, or ``NONE``), ``GatewayResponses`` the errors API Gateway answers itself, and
``MethodSettings`` the stage's throttling.

Path parameters are passed on as sent, still percent-encoded: a REST API (v1) proxy event's
``path`` and ``pathParameters`` are not URL-decoded by API Gateway (unlike an HTTP API's). Evidence:
aws/aws-sam-cli#3524 (production gives ``"pathParameters": {"ID": "my-id%2F100"}`` for
``/resource/my-id%2F100``), serverless/serverless#5037 (``/posts/%40`` gives ``"%40"``), and
middleapi/standard-server#93, checked against live captures (hotsock/voker#8): REST APIs deliver
the path percent-encoded, HTTP APIs decode it. Matching is done on that raw path, so ``%2F`` stays
inside one segment.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from agentmessage_local.resources import Stack
from agentmessage_local.template import functions, load_template, resources
from agentmessage_local.throttling import MethodSetting

_PARAMETER = re.compile(r"^\{([A-Za-z0-9_.-]+)(\+?)\}$")


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST ... or ANY
    resource: str  # the template's path: /v1/messages/{id}
    function_id: str
    authorizer: str | None
    _pattern: re.Pattern[str] = field(repr=False, compare=False)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters (as sent, percent-encoded) when ``method`` and ``path`` (as sent)
        are this route's."""
        if self.method not in (method, "ANY"):
            return None
        found = self._pattern.fullmatch(path)
        if found is None:
            return None
        return dict(found.groupdict())


def route(method: str, resource: str, function_id: str, authorizer: str | None) -> Route:
    parts = []
    for segment in resource.strip("/").split("/"):
        parameter = _PARAMETER.match(segment)
        if parameter is None:
            parts.append(re.escape(segment))
        elif parameter.group(2):  # {proxy+}: the rest of the path
            parts.append(f"(?P<{parameter.group(1)}>.+)")
        else:
            parts.append(f"(?P<{parameter.group(1)}>[^/]+)")
    pattern = re.compile("/" + "/".join(parts))
    return Route(method.upper(), resource, function_id, authorizer, pattern)


@dataclass(frozen=True)
class Authorizer:
    name: str
    function_id: str
    payload_type: str  # REQUEST or TOKEN
    identity_headers: tuple[str, ...]
    identity_query_strings: tuple[str, ...]
    ttl_seconds: int


@dataclass(frozen=True)
class ApiDefinition:
    logical_id: str
    stage: str
    routes: tuple[Route, ...]
    authorizers: dict[str, Authorizer]
    gateway_responses: dict[str, Any]
    method_settings: tuple[MethodSetting, ...] = ()

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for candidate in self.routes:
            parameters = candidate.match(method, path)
            if parameters is not None:
                return candidate, parameters
        return None


@dataclass(frozen=True)
class ApiEvent:
    """A function's ``Type: Api`` event: one route of the API, as the template declares it."""

    method: str  # GET, POST ... or ANY
    path: str  # /v1/messages/{id}
    function_id: str
    authorizer: str | None  # the event's own Auth.Authorizer, if it names one


def api_events(template: dict[str, Any] | None = None) -> tuple[ApiEvent, ...]:
    """Every route of the template, from each function's ``Api`` events."""
    found = []
    for spec in functions(template).values():
        for event in spec.events.values():
            if event.get("Type") != "Api":
                continue
            props = event["Properties"]
            found.append(
                ApiEvent(
                    method=str(props["Method"]).upper(),
                    path=str(props["Path"]),
                    function_id=spec.logical_id,
                    authorizer=props.get("Auth", {}).get("Authorizer"),
                )
            )
    return tuple(found)


def _function_of(arn: Any) -> str:
    """``!GetAtt Fn.Arn`` names the authorizer's function."""
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        return str(arn["Fn::GetAtt"][0])
    raise ValueError(f"authorizer FunctionArn {arn!r}: only !GetAtt <Function>.Arn is supported locally")


def _authorizers(auth: dict[str, Any]) -> dict[str, Authorizer]:
    found = {}
    for name, spec in auth.get("Authorizers", {}).items():
        identity = spec.get("Identity", {})
        found[name] = Authorizer(
            name=name,
            function_id=_function_of(spec["FunctionArn"]),
            payload_type=spec.get("FunctionPayloadType", "TOKEN"),
            identity_headers=tuple(identity.get("Headers", [] if "Identity" in spec else ["Authorization"])),
            identity_query_strings=tuple(identity.get("QueryStrings", [])),
            ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
        )
    return found


def _number(stack: Stack, value: Any) -> float | None:
    return None if value is None else float(stack.resolve(value))


def _method_settings(stack: Stack, props: dict[str, Any]) -> tuple[MethodSetting, ...]:
    settings = []
    for entry in props.get("MethodSettings", []):
        burst = _number(stack, entry.get("ThrottlingBurstLimit"))
        settings.append(
            MethodSetting(
                resource_path=str(entry.get("ResourcePath", "/*")),
                http_method=str(entry.get("HttpMethod", "*")).upper(),
                burst_limit=None if burst is None else int(burst),
                rate_limit=_number(stack, entry.get("ThrottlingRateLimit")),
            )
        )
    return tuple(settings)


def load_api(stack: Stack, template: dict[str, Any] | None = None) -> ApiDefinition:
    """The template's one REST API (``AWS::Serverless::Api``), resolved against ``stack``."""
    template = template or load_template()
    apis = resources("AWS::Serverless::Api", template)
    if len(apis) != 1:
        raise ValueError(f"the local gateway serves exactly one AWS::Serverless::Api; found {len(apis)}")
    ((logical_id, api),) = apis.items()
    props = api["Properties"]
    auth = props.get("Auth", {})
    default_authorizer = auth.get("DefaultAuthorizer")
    routes = []
    for event in api_events(template):
        authorizer = event.authorizer or default_authorizer
        routes.append(
            route(
                event.method,
                event.path,
                event.function_id,
                None if authorizer in (None, "NONE", "AWS_IAM") else authorizer,
            )
        )
    # Static segments win over parameters, as API Gateway picks the most specific resource.
    routes.sort(key=lambda candidate: (candidate.resource.count("{"), candidate.method == "ANY"))
    return ApiDefinition(
        logical_id=logical_id,
        stage=stack.resolve(props["StageName"]),
        routes=tuple(routes),
        authorizers=_authorizers(auth),
        gateway_responses=props.get("GatewayResponses", {}),
        method_settings=_method_settings(stack, props),
    )
