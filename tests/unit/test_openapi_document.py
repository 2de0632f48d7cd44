"""docs/openapi.json is the document the code generates: regenerate it with `make openapi`."""

import json
from pathlib import Path

from agentmessage_local.openapi import openapi_document, openapi_json

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
