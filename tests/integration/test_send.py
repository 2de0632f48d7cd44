"""POST /v1/messages through the send handler, against moto."""

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from agentmessage.api.json_body import MAX_DEPTH
from agentmessage.domain import clock
from agentmessage.integration.dispatch_triggers import at_expression
from tests.integration.conftest import Aws
from tests.support.api import assert_error, enveloped
from tests.support.events import authorizer_context, send_event
from tests.support.logs import captured_logs
from tests.support.messages import (
    API_FIELDS,
    ORG,
    RECIPIENT,
    SENDER,
    ZERO_COST,
    all_items,
    send_body,
    without,
)

SEND = "SendMessageFunction"


def dispatch_queue_bodies(aws: Aws) -> list[dict[str, Any]]:
    """Everything on the dispatch queue, read back (and left invisible) from moto SQS."""
    sqs = aws.client("sqs")
    queue_url = aws.stack.refs["DispatchQueue"]
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(json.loads(message["Body"]) for message in messages)


def schedules(aws: Aws) -> list[dict[str, Any]]:
    scheduler = aws.client("scheduler")
    group = aws.stack.refs["MessageScheduleGroup"]
    return [
        scheduler.get_schedule(Name=entry["Name"], GroupName=group)
        for entry in scheduler.list_schedules(GroupName=group)["Schedules"]
    ]


def test_an_immediate_send_answers_202_with_the_queued_message(aws: Aws, invoke: Any) -> None:
    # Given a valid body from a caller with the send scope
    event = send_event(send_body(), authorizer=authorizer_context())

    # When it is sent
    answer = enveloped(invoke(SEND)(event), event)

    # Then the answer is 202 with the whole message, queued and not billed
    assert answer.status == 202
    message = answer.data
    assert set(message) == API_FIELDS
    assert uuid.UUID(message["id"]).version == 7
    assert (message["from"], message["to"], message["text"]) == (SENDER, RECIPIENT, "Your code is 123456")
    assert (message["status"], message["channel"], message["priority"]) == ("queued", "sms", "default")
    assert (message["encoding"], message["parts"]) == ("GSM-7", 1)
    assert message["cost"] == ZERO_COST
    assert message["errors"] == []
    assert message["created_at"].endswith("Z")
    assert message["canceled_at"] is None
    assert message["sent_at"] is None


def test_the_message_is_stored_under_the_callers_org(aws: Aws, invoke: Any) -> None:
    # Given a send by org_a
    event = send_event(send_body(), authorizer=authorizer_context(org_id=ORG))

    # When it is accepted
    message_id = enveloped(invoke(SEND)(event), event).data["id"]

    # Then the table holds it under (org_a, id), queued
    item = aws.client("dynamodb").get_item(
        TableName=aws.stack.refs["MessagesTable"], Key={"org_id": {"S": ORG}, "id": {"S": message_id}}
    )["Item"]
    assert item["status"]["S"] == "queued"
    assert item["mode"]["S"] == "test"


def test_an_immediate_send_puts_org_and_id_on_the_dispatch_queue(aws: Aws, invoke: Any) -> None:
    # Given a send without scheduled_at
    event = send_event(send_body(), authorizer=authorizer_context())

    # When it is accepted
    message_id = enveloped(invoke(SEND)(event), event).data["id"]

    # Then exactly {org_id, id} is on the dispatch queue, and nothing was scheduled
    assert dispatch_queue_bodies(aws) == [{"org_id": ORG, "id": message_id}]
    assert schedules(aws) == []


def test_body_is_accepted_as_an_alias_of_text(aws: Aws, invoke: Any) -> None:
    # Given a body that names its text "body"
    body = without(send_body(), "text") | {"body": "Hello from body"}
    event = send_event(body, authorizer=authorizer_context())

    # When it is sent
    answer = enveloped(invoke(SEND)(event), event)

    # Then the message's text is that body
    assert answer.status == 202
    assert answer.data["text"] == "Hello from body"
    assert "body" not in answer.data


def test_encoding_and_parts_follow_the_text(aws: Aws, invoke: Any) -> None:
    # Given a text outside GSM-7 that needs two UCS-2 parts (71 units > 70)
    event = send_event(send_body(text="Привет" + "ж" * 65), authorizer=authorizer_context())

    # When it is sent
    answer = enveloped(invoke(SEND)(event), event)

    # Then encoding and parts are filled in
    assert (answer.data["encoding"], answer.data["parts"]) == ("UCS-2", 2)


def test_a_scheduled_send_creates_a_one_time_schedule_instead_of_enqueueing(aws: Aws, invoke: Any) -> None:
    # Given a send ten minutes ahead, at a time with a fraction of a second
    at = (clock.utc_now() + timedelta(minutes=10)).replace(microsecond=250_000)
    event = send_event(send_body(scheduled_at=clock.to_iso(at)), authorizer=authorizer_context())

    # When it is accepted
    answer = enveloped(invoke(SEND)(event), event)

    # Then one schedule named after the message fires at that time rounded up to the second,
    assert answer.status == 202
    message_id = answer.data["id"]
    assert answer.data["scheduled_at"] == clock.to_iso(at)
    [schedule] = schedules(aws)
    rounded_up = at.replace(microsecond=0) + timedelta(seconds=1)
    assert schedule["Name"] == message_id
    assert schedule["GroupName"] == aws.stack.refs["MessageScheduleGroup"]
    assert schedule["ScheduleExpression"] == f"at({rounded_up:%Y-%m-%dT%H:%M:%S})" == at_expression(at)
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["ActionAfterCompletion"] == "DELETE"
    # and its target puts {org_id, id} on the dispatch queue, with a dead-letter queue and retries
    target = schedule["Target"]
    assert target["Arn"] == aws.stack.attributes[("DispatchQueue", "Arn")]
    assert target["RoleArn"] == aws.stack.attributes[("SchedulerRole", "Arn")]
    assert json.loads(target["Input"]) == {"org_id": ORG, "id": message_id}
    assert target["DeadLetterConfig"] == {"Arn": aws.stack.attributes[("ScheduleDeadLetterQueue", "Arn")]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] > 0
    # and nothing went on the queue yet
    assert dispatch_queue_bodies(aws) == []


def test_a_validation_failure_is_422_naming_each_bad_field_and_stores_nothing(aws: Aws, invoke: Any) -> None:
    # Given a body with four bad fields and an unknown one
    body = send_body(to="555-0123", text="", channel="fax", tag="x" * 65, colour="blue")
    event = send_event(body, authorizer=authorizer_context())

    # When it is sent
    answer = enveloped(invoke(SEND)(event), event)

    # Then it is VALIDATION_FAILED with one detail per bad field, and nothing was stored or enqueued
    assert_error(answer, 422, "VALIDATION_FAILED", "validation failed")
    assert set(answer.error["details"]) == {"to", "text", "channel", "tag", "colour"}
    assert answer.error["details"]["to"] == "must be E.164"
    assert all_items(aws.client("dynamodb"), aws.stack.refs["MessagesTable"]) == []
    assert dispatch_queue_bodies(aws) == []


def test_a_scheduled_at_outside_the_window_is_422(aws: Aws, invoke: Any) -> None:
    # Given a send scheduled 30 seconds ahead
    at = clock.to_iso(clock.utc_now() + timedelta(seconds=30))
    event = send_event(send_body(scheduled_at=at), authorizer=authorizer_context())

    # When it is sent
    answer = enveloped(invoke(SEND)(event), event)

    # Then scheduled_at is named
    assert_error(answer, 422, "VALIDATION_FAILED")
    assert set(answer.error["details"]) == {"scheduled_at"}


@pytest.mark.parametrize(
    "raw_body",
    [None, "", "{not json", "[]", '[{"to": "+15555550123"}]', '"a string"', "42", "null", "true"],
    ids=["missing", "empty", "invalid-json", "empty-list", "list", "string", "number", "null", "true"],
)
def test_a_body_that_is_not_a_json_object_is_400(aws: Aws, invoke: Any, raw_body: str | None) -> None:
    # Given a body that is not a JSON object
    event = send_event(raw_body=raw_body, authorizer=authorizer_context())

    # When it is sent
    answer = enveloped(invoke(SEND)(event), event)

    # Then it is BAD_REQUEST, in the envelope
    assert_error(answer, 400, "BAD_REQUEST")
    assert "details" not in answer.error


@pytest.mark.parametrize(
    "raw_body",
    ["!!! not base64 !!!", base64.b64encode(b'{"text": "caf\xe9"}').decode()],
    ids=["not-base64", "not-utf-8"],
)
def test_a_base64_body_that_does_not_decode_is_400(aws: Aws, invoke: Any, raw_body: str) -> None:
    # Given a body flagged as base64 that is not base64, or not UTF-8 once decoded
    event = send_event(raw_body=raw_body, authorizer=authorizer_context())
    event["isBase64Encoded"] = True

    # When it is sent
    answer = enveloped(invoke(SEND)(event), event)

    # Then it is BAD_REQUEST, and nothing is stored
    assert_error(answer, 400, "BAD_REQUEST")
    assert all_items(aws.client("dynamodb"), aws.stack.refs["MessagesTable"]) == []


def test_an_unpaired_surrogate_is_400_and_nothing_is_stored(aws: Aws, invoke: Any) -> None:
    # Given a text that JSON can spell but no UTF-8 store can hold
    raw_body = json.dumps(send_body())[:-1] + ', "tag": "\\ud800"}'
    event = send_event(raw_body=raw_body, authorizer=authorizer_context())

    # When it is sent
    answer = enveloped(invoke(SEND)(event), event)

    # Then it is BAD_REQUEST rather than a storage failure, and nothing is stored or enqueued
    assert_error(answer, 400, "BAD_REQUEST")
    assert all_items(aws.client("dynamodb"), aws.stack.refs["MessagesTable"]) == []
    assert dispatch_queue_bodies(aws) == []


def test_without_authorizer_context_the_handler_answers_401(aws: Aws, invoke: Any) -> None:
    # Given a request that reached the function without the authorizer's context
    event = send_event(send_body(), authorizer=None)

    # When it is sent
    answer = enveloped(invoke(SEND)(event), event)

    # Then it is refused, and nothing is stored
    assert_error(answer, 401, "UNAUTHORIZED")
    assert all_items(aws.client("dynamodb"), aws.stack.refs["MessagesTable"]) == []


def test_without_the_send_scope_it_is_403(aws: Aws, invoke: Any) -> None:
    # Given a key that may only read
    event = send_event(send_body(), authorizer=authorizer_context(scopes="messages:read"))

    # When it sends
    answer = enveloped(invoke(SEND)(event), event)

    # Then it is FORBIDDEN, and nothing is stored or enqueued
    assert_error(answer, 403, "FORBIDDEN", "missing required scope")
    assert all_items(aws.client("dynamodb"), aws.stack.refs["MessagesTable"]) == []
    assert dispatch_queue_bodies(aws) == []


def test_an_unknown_route_is_404_in_the_envelope(aws: Aws, invoke: Any) -> None:
    # Given a request for a route the send function does not serve
    event = send_event(send_body(), authorizer=authorizer_context())
    event["path"] = event["resource"] = "/v1/nothing"

    # When it arrives
    answer = enveloped(invoke(SEND)(event), event)

    # Then it is NOT_FOUND
    assert_error(answer, 404, "NOT_FOUND")


def test_a_storage_failure_is_503_with_retry_after_and_no_trace(
    aws: Aws, invoke: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given the Messages table is gone (DynamoDB answers ResourceNotFoundException)
    aws.client("dynamodb").delete_table(TableName=aws.stack.refs["MessagesTable"])
    event = send_event(send_body(text="Zebra7731"), authorizer=authorizer_context())

    # When a message is sent
    with captured_logs(capsys, caplog) as logs:
        answer = enveloped(invoke(SEND)(event), event)
        output = logs.text()

    # Then the log says which dependency failed and how, without the text
    failure = next(json.loads(line) for line in output.splitlines() if "failed on a dependency" in line)
    assert (failure["level"], failure["error"]) == ("WARNING", "Unavailable")
    assert failure["aws_error"] == "ResourceNotFoundException"
    assert "Zebra7731" not in output

    # Then the caller gets SERVICE_UNAVAILABLE with Retry-After, and no internals
    assert_error(answer, 503, "SERVICE_UNAVAILABLE")
    assert int(answer.headers["Retry-After"]) > 0
    assert "Traceback" not in json.dumps(answer.body)
    assert "ResourceNotFound" not in json.dumps(answer.body)


def test_a_live_mms_with_more_media_than_the_live_carrier_takes_is_refused(aws: Aws, invoke: Any) -> None:
    # Given a live key, and an mms with two media URLs (the API's limit is ten, the live carrier's one)
    media = ["https://cdn.example.com/a.png", "https://cdn.example.com/b.png"]
    body = send_body(channel="mms", media_urls=media)
    event = send_event(body, authorizer=authorizer_context(mode="live"))

    # When it is sent
    answer = enveloped(invoke(SEND)(event), event)

    # Then it is refused at once, naming media_urls, and nothing is stored or enqueued
    assert_error(answer, 422, "VALIDATION_FAILED")
    assert answer.error["details"] == {"media_urls": "a live mms carries 1 media URL"}
    assert all_items(aws.client("dynamodb"), aws.stack.refs["MessagesTable"]) == []
    assert dispatch_queue_bodies(aws) == []


def test_a_test_mms_takes_up_to_ten_media_urls(aws: Aws, invoke: Any) -> None:
    media = [f"https://cdn.example.com/{index}.png" for index in range(10)]
    event = send_event(send_body(channel="mms", media_urls=media), authorizer=authorizer_context(mode="test"))

    answer = enveloped(invoke(SEND)(event), event)

    assert answer.status == 202
    assert answer.data["media_urls"] == media


@pytest.mark.parametrize("key", [None, "order-deep"], ids=["without-key", "with-key"])
def test_json_nested_deeper_than_the_limit_is_400_with_or_without_a_key(
    aws: Aws, invoke: Any, key: str | None
) -> None:
    # Given a body nested deeper than the documented limit (under Python's own recursion limit,
    # so the JSON itself reads)
    deep = '{"text": ' + "[" * 900 + "]" * 900 + "}"
    headers = {"Idempotency-Key": key} if key else {}
    event = send_event(raw_body=deep, authorizer=authorizer_context(), headers=headers)

    # When it is sent, it is refused as a bad body, in the envelope, before anything walks it
    answer = enveloped(invoke(SEND)(event), event)
    assert_error(answer, 400, "BAD_REQUEST")
    assert answer.error["message"] == f"request body is nested deeper than {MAX_DEPTH} levels"
