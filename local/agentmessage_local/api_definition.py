"""The REST API as the template defines it: stage, routes, the authorizer, gateway responses.

Routes come from each function's ``Events`` of ``Type: Api`` on the template's
``AWS::Serverless::Api``; the API's ``Auth`` gives the default authorizer (an event may name
another, or ``NONE``), and ``GatewayResponses`` the errors API Gateway answers itself.
"""

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from agentmessage_local.resources import Stack
from agentmessage_local.template import functions, load_template, resources

_PARAMETER = re.compile(r"^\{([A-Za-z0-9_.-]+)(\+?)\}$")


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST ... or ANY
    resource: str  # the template's path: /v1/messages/{id}
    function_id: str
    authorizer: str | None
    _pattern: re.Pattern[str] = field(repr=False, compare=False)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters (URL-decoded) when ``method`` and ``path`` are this route's."""
        if self.method not in (method, "ANY"):
            return None
        found = self._pattern.fullmatch(path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}


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

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for candidate in self.routes:
            parameters = candidate.match(method, path)
            if parameters is not None:
                return candidate, parameters
        return None


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
    for spec in functions(template).values():
        for event in spec.events.values():
            if event.get("Type") != "Api":
                continue
            event_props = event["Properties"]
            authorizer = event_props.get("Auth", {}).get("Authorizer", default_authorizer)
            routes.append(
                route(
                    event_props["Method"],
                    event_props["Path"],
                    spec.logical_id,
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
    )
