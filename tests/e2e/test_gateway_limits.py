"""The gateway's limits, seen from a client: one key per request, Lambda's 6 MB invoke payload, and a
burst of connections at once."""

import json
import threading

from tests.e2e.api_client import ApiClient, HttpAnswer, assert_enveloped, assert_error
from tests.e2e.conftest import OrgKey
from tests.e2e.test_sending import message

SIX_MB = 6 * 1024 * 1024  # Lambda's invoke payload limit: 6,291,456 bytes of proxy event


# -- one Authorization value ----------------------------------------------------------------------------


def test_two_authorization_values_are_401_even_right_after_the_key_alone_was_cached(
    api: ApiClient, org_a: OrgKey
) -> None:
    # Given a good key whose Allow the authorizer cache has just stored
    good = f"Bearer {org_a.key}"
    assert api.request_with_headers("GET", "/v1/messages/unknown", [("Authorization", good)]).status == 404
    # When requests carry that key and another Authorization value: repeated, in another case, or both
    for headers in (
        [("Authorization", good), ("Authorization", good)],
        [("Authorization", good), ("authorization", good)],
        [("authorization", good), ("AUTHORIZATION", "Bearer am_test_other")],
        [("Authorization", "Bearer am_test_other"), ("authorization", good)],
    ):
        # Then each is 401 UNAUTHORIZED, and the key alone still works
        answer = api.request_with_headers("GET", "/v1/messages/unknown", headers)
        assert_error(answer, 401, "UNAUTHORIZED")
    assert api.request_with_headers("GET", "/v1/messages/unknown", [("authorization", good)]).status == 404


def test_two_authorization_values_cannot_send_a_message(api: ApiClient, org_a: OrgKey) -> None:
    good = f"Bearer {org_a.key}"
    body = json.dumps(message()).encode()
    headers = [("Authorization", good), ("authorization", good), ("Content-Type", "application/json")]
    assert_error(
        api.request_with_headers("POST", "/v1/messages", headers, raw_body=body), 401, "UNAUTHORIZED"
    )


# -- Lambda's 6 MB invoke payload -----------------------------------------------------------------------


def send_raw(api: ApiClient, key: str | None, body: bytes) -> HttpAnswer:
    headers = [("Content-Type", "application/json")]
    if key is not None:
        headers.append(("Authorization", f"Bearer {key}"))
    return api.request_with_headers("POST", "/v1/messages", headers, raw_body=body)


def test_a_body_over_lambdas_6_mb_is_413_in_the_envelope(api: ApiClient, org_a: OrgKey) -> None:
    # Given a send whose body is under API Gateway's 10 MB, but whose event is over Lambda's 6 MB
    body = json.dumps(message(text="a" * SIX_MB)).encode()
    # When it is posted with a good key
    answer = send_raw(api, org_a.key, body)
    # Then API Gateway's own 413 answers it, in the envelope, and the function never saw it
    assert_error(answer, 413, "BAD_REQUEST")
    assert answer.headers["x-amzn-errortype"] == "BadRequestException"


def test_a_body_a_little_under_6_mb_reaches_the_function(api: ApiClient, org_a: OrgKey) -> None:
    body = json.dumps(message(text="a" * (SIX_MB - 64 * 1024))).encode()
    answer = send_raw(api, org_a.key, body)
    assert_error(answer, 422, "VALIDATION_FAILED")  # the handler's answer: the text is too long
    assert "text" in answer.error["details"]


def test_a_body_over_6_mb_without_a_key_is_401(api: ApiClient) -> None:
    body = json.dumps(message(text="a" * SIX_MB)).encode()
    assert_error(send_raw(api, None, body), 401, "UNAUTHORIZED")


# -- a burst of connections ---------------------------------------------------------------------------


def test_a_burst_of_50_simultaneous_requests_is_answered_every_one(api: ApiClient) -> None:
    # Given 50 clients that start at the same moment
    start = threading.Barrier(50)
    answers: list[HttpAnswer] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client() -> None:
        start.wait()
        try:
            answer = api.request("GET", "/_local/health")
        except OSError as exc:
            with lock:
                failures.append(exc)
        else:
            with lock:
                answers.append(answer)

    # When each connects and sends its request at once
    threads = [threading.Thread(target=client) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Then none is reset, and every one is answered
    assert failures == []
    assert len(answers) == 50
    for answer in answers:
        assert_enveloped(answer)
        assert answer.status == 200
