"""docs/openapi.json is the document the code generates (regenerate it with `make openapi`), and
its routes are the template's and those the functions' resolvers serve."""

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from agentmessage.domain.rules import E164
from agentmessage_local import openapi
from agentmessage_local.api_definition import ApiEvent, api_events
from agentmessage_local.openapi import openapi_document, openapi_json
from agentmessage_local.template import ROOT, FunctionSpec, functions

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_committed_document_is_the_generated_one() -> None:
    committed = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    assert committed == openapi_document(), "docs/openapi.json is stale: run `make openapi`"
    assert DOCUMENT.read_text(encoding="utf-8") == openapi_json()


def test_every_operation_documents_its_errors_in_the_envelope() -> None:
    document = openapi_document()
    operations = [operation for path in document["paths"].values() for operation in path.values()]
    assert {operation["operationId"] for operation in operations} == {
        "sendMessage",
        "getMessage",
        "cancelMessage",
    }
    for operation in operations:
        assert operation["security"] == [{"bearerAuth": []}]
        for status, response in operation["responses"].items():
            schema = response["content"]["application/json"]["schema"]["$ref"]
            expected = "MessageEnvelope" if status.startswith("2") else "ErrorEnvelope"
            assert schema == f"#/components/schemas/{expected}", (operation["operationId"], status)
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


# -- the routes: the document's, the template's and the functions' own resolvers' ------------------


def _normalized(path: str) -> str:
    """A path with its parameters unnamed: Powertools' ``<message_id>`` and the template's ``{id}``
    name the same segment."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def document_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}


def template_routes() -> set[tuple[str, str]]:
    return {(event.method, event.path) for event in api_events()}


def resolver_routes(spec: FunctionSpec) -> set[tuple[str, str]] | None:
    """The routes registered on the function's Powertools resolver (its module's ``app``), or
    ``None`` when it has none; the handler module is the template's, under the function's folder."""
    module_name = ".".join(
        [*spec.code_dir.relative_to(ROOT).parts, *spec.handler.rpartition(".")[0].split("/")]
    )
    app = getattr(importlib.import_module(module_name), "app", None)
    if not isinstance(app, APIGatewayRestResolver):
        return None
    routes = [*app._static_routes, *app._dynamic_routes]
    return {(route.method, _normalized(route.openapi_path)) for route in routes}


def test_the_documents_routes_are_the_templates() -> None:
    assert template_routes(), "the template declares no Api event"
    assert document_routes(openapi_document()) == template_routes()


def test_every_functions_resolver_serves_exactly_its_templates_routes() -> None:
    by_function: dict[str, set[tuple[str, str]]] = {}
    for event in api_events():
        by_function.setdefault(event.function_id, set()).add((event.method, _normalized(event.path)))
    for logical_id, spec in functions().items():
        served = resolver_routes(spec)
        declared = by_function.get(logical_id, set())
        assert (served or set()) == declared, (logical_id, served, declared)
        if declared:
            assert served is not None, f"{logical_id} has Api events but no resolver `app`"


def test_a_template_route_without_documentation_stops_the_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = ApiEvent(method="GET", path="/v1/messages", function_id="ListMessagesFunction", authorizer=None)
    monkeypatch.setattr(openapi, "api_events", lambda: (*api_events(), extra))
    with pytest.raises(openapi.UndocumentedRoute, match="ListMessagesFunction"):
        openapi_document()


def test_a_documented_operation_without_a_route_stops_the_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        openapi,
        "api_events",
        lambda: tuple(e for e in api_events() if e.function_id != "CancelMessageFunction"),
    )
    with pytest.raises(openapi.UndocumentedRoute, match="CancelMessageFunction"):
        openapi_document()


def test_a_sent_message_links_to_the_routes_that_take_its_id() -> None:
    document = openapi_document()
    links = document["paths"]["/v1/messages"]["post"]["responses"]["202"]["links"]
    operation_ids = {
        operation["operationId"] for path in document["paths"].values() for operation in path.values()
    }
    assert {link["operationId"] for link in links.values()} == {"getMessage", "cancelMessage"}
    for link in links.values():
        assert link["operationId"] in operation_ids
        assert link["parameters"] == {"id": "$response.body#/data/id"}
    # The id is where the expression points: data.id of the success envelope.
    envelope = document["components"]["schemas"]["MessageEnvelope"]
    assert envelope["properties"]["data"]["$ref"] == "#/components/schemas/Message"
    assert "id" in document["components"]["schemas"]["Message"]["required"]


@pytest.mark.parametrize("schema", ["SendMessageRequest", "Message"])
def test_from_and_to_carry_the_e164_pattern_the_request_model_checks(schema: str) -> None:
    properties = openapi_document()["components"]["schemas"][schema]["properties"]
    for name in ("from", "to"):
        pattern = re.compile(properties[name]["pattern"])
        assert pattern.fullmatch("+15555550100")
        assert not pattern.fullmatch("15555550100")
        assert not pattern.fullmatch("+0123")
        assert properties[name]["pattern"] == E164.pattern
