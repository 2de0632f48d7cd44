"""The errors a failing dependency causes, reached as the real system reaches them: AWS calls made to
fail by the embedded endpoint's fault injection (docs/local-stack.md), the functions' own botocore
and handlers turning that into the answer.

- 503 SERVICE_UNAVAILABLE: DynamoDB throttling past botocore's retries (a throttled enqueue is
  not an error: the message is stored first, and the sweeper enqueues it later);
- 503 SERVICE_UNAVAILABLE from API Gateway: the authorizer's key store throttled
  (AUTHORIZER_CONFIGURATION_ERROR, as the template renders it);
- 500 INTERNAL: an item the handler cannot parse, never with a stack trace;
- 409 IDEMPOTENCY_IN_PROGRESS: a retry while the first send is still running, in a second
  container of the send function (the function scales out, as Lambda does).
"""

import threading
import uuid

from agentmessage.keys.api_keys import hash_key
from tests.e2e.api_client import ApiClient, Faults, HttpAnswer, assert_enveloped, assert_error
from tests.e2e.conftest import OrgKey, create_key
from tests.e2e.local_stack import LocalStackProcess
from tests.e2e.test_sending import message

# What a stack trace or an exception would leave in a body.
LEAKS = ("Traceback", 'File "', "Error(", "validation error", "corrupted", "pydantic")


def test_a_throttled_read_is_503_with_retry_after_once_botocore_gives_up(
    api: ApiClient, org_a: OrgKey, faults: Faults
) -> None:
    # Given a stored message, and DynamoDB throttling every read of it
    sent = api.send(org_a.key, message()).data
    fault = faults.add(
        service="dynamodb", operation="GetItem", match=sent["id"], fault="throttle", count=None
    )
    # When it is read
    answer = api.get(org_a.key, sent["id"])
    # Then the answer is 503, in the envelope, with Retry-After, after botocore retried
    error = assert_error(answer, 503, "SERVICE_UNAVAILABLE")
    assert answer.headers["retry-after"] == "2"
    assert not any(leak in error["message"] for leak in LEAKS)
    assert faults.get(fault["id"])["hits"] >= 2, "botocore should have retried the throttled read"
    # And once DynamoDB recovers, the same read succeeds
    faults.clear()
    assert api.get(org_a.key, sent["id"]).data["id"] == sent["id"]


def test_a_send_whose_enqueue_is_throttled_is_accepted_and_the_sweeper_recovers_it(
    api: ApiClient, org_b: OrgKey, faults: Faults
) -> None:
    # Given SQS throttling every enqueue of org B's messages
    fault = faults.add(
        service="sqs", operation="SendMessage", match=org_b.org_id, fault="throttle", count=None
    )
    # When org B sends: the message is stored first, so it is accepted all the same
    sent = api.send(org_b.key, message())
    assert_enveloped(sent)
    assert (sent.status, sent.data["status"]) == (202, "queued")
    # (tried once: after the message is stored, nothing is retried at the cost of the answer's time)
    assert faults.get(fault["id"])["hits"] == 1, "the enqueue should have been tried, once"
    # Then once SQS recovers, the sweeper re-enqueues it past its time, and it is delivered
    faults.clear()
    api.advance_clock(120)
    api.wait_for(org_b.key, sent.data["id"], lambda m: m["status"] == "delivered")


def test_an_item_the_handler_cannot_parse_is_500_without_a_stack_trace(
    api: ApiClient, org_a: OrgKey, faults: Faults
) -> None:
    # Given a stored message that DynamoDB answers with a status no code knows
    sent = api.send(org_a.key, message()).data
    faults.add(service="dynamodb", operation="GetItem", match=sent["id"], fault="corrupt")
    # When it is read, Then it is 500 INTERNAL in the envelope, and nothing of the failure shows
    answer = api.get(org_a.key, sent["id"])
    error = assert_error(answer, 500, "INTERNAL")
    assert error["message"] == "internal error"
    assert set(error) == {"code", "message", "request_id"}
    assert not any(leak in str(answer.body) for leak in LEAKS)
    # And the stored message itself is intact
    assert api.get(org_a.key, sent["id"]).data["status"] in ("queued", "sending", "sent", "delivered")


def test_an_authorizer_whose_key_store_is_throttled_is_503(
    api: ApiClient, local_stack: LocalStackProcess, faults: Faults
) -> None:
    # Given a key never used yet (so no authorizer result is cached for it), its lookup throttled
    fresh = create_key(local_stack, f"org_{uuid.uuid4().hex[:8]}")
    faults.add(
        service="dynamodb", operation="GetItem", match=hash_key(fresh.key), fault="throttle", count=None
    )
    # When it is used, Then API Gateway answers AUTHORIZER_CONFIGURATION_ERROR: 503, retry later
    answer = api.send(fresh.key, message())
    error = assert_error(answer, 503, "SERVICE_UNAVAILABLE")
    assert error["message"] == "authorizer unavailable"
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["x-amzn-errortype"] == "AuthorizerConfigurationException"
    # And the failure was not cached: once the key store answers, the key works
    faults.clear()
    assert api.send(fresh.key, message()).status == 202


def send_in_background(
    api: ApiClient, key: str, idempotency_key: str
) -> tuple[threading.Thread, list[HttpAnswer]]:
    answers: list[HttpAnswer] = []
    thread = threading.Thread(
        target=lambda: answers.append(api.send(key, message(), idempotency_key=idempotency_key)), daemon=True
    )
    thread.start()
    return thread, answers


def hold_a_send(
    api: ApiClient, faults: Faults, org: OrgKey, idempotency_key: str
) -> tuple[threading.Thread, list[HttpAnswer]]:
    """A send of ``org`` that the send function has started (its idempotency record is written)
    and that is held at its enqueue, until the faults are cleared (at most 4 s: under the
    function's 5 s read timeout, past which botocore would send the enqueue again)."""
    fault = faults.add(service="sqs", operation="SendMessage", match=org.org_id, fault="delay", seconds=4)
    thread, answers = send_in_background(api, org.key, idempotency_key)
    faults.wait_for_hit(fault["id"])
    return thread, answers


def test_a_retry_while_the_first_send_still_runs_is_409_idempotency_in_progress(
    api: ApiClient, local_stack: LocalStackProcess, faults: Faults
) -> None:
    org = create_key(local_stack, f"org_{uuid.uuid4().hex[:8]}")
    other = create_key(local_stack, f"org_{uuid.uuid4().hex[:8]}")
    # Given two warm containers of the send function: one send held, another served beside it
    held, _ = hold_a_send(api, faults, other, f"warm-{uuid.uuid4()}")
    assert api.send(org.key, message()).status == 202  # a second container, started while the first is busy
    faults.clear()
    held.join(30)

    # Given a send with an Idempotency-Key, still running (held at its enqueue)
    key = f"e2e-{uuid.uuid4()}"
    first, first_answers = hold_a_send(api, faults, org, key)
    # When it is retried meanwhile
    retry = api.send(org.key, message(), idempotency_key=key)
    # Then the retry is 409 IDEMPOTENCY_IN_PROGRESS, with Retry-After (had the first completed, it
    # would be answered 202 with the first's message)
    assert_error(retry, 409, "IDEMPOTENCY_IN_PROGRESS")
    assert retry.headers["retry-after"] == "1"
    # And once the first completes, it is accepted, and a later retry answers it again
    faults.clear()
    first.join(30)
    [accepted] = first_answers
    assert_enveloped(accepted)
    assert accepted.status == 202
    again = api.send(org.key, message(), idempotency_key=key)
    assert (again.status, again.data["id"]) == (202, accepted.data["id"])
