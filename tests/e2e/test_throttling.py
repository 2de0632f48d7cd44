"""API Gateway's stage throttling, from the template's MethodSettings: a stack of its own, started
with the limits set low by ``--parameter-overrides`` (the session's stack keeps the defaults)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.api_client import ApiClient, assert_error
from tests.e2e.local_stack import LocalStackProcess


@pytest.fixture(scope="module")
def throttled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiClient]:
    stack = LocalStackProcess.start(
        Path(tmp_path_factory.mktemp("throttled-stack")),
        "--parameter-overrides",
        "ThrottlingBurstLimit=1",
        "ThrottlingRateLimit=1",
    )
    try:
        yield ApiClient(stack.gateway_url)
    finally:
        stack.stop()


def test_over_its_burst_a_method_answers_429_rate_limited(throttled: ApiClient) -> None:
    # Given a method with a burst of 1 and 1 request a second: When requests come faster
    answers = [throttled.request("GET", "/v1/messages/x") for _ in range(6)]
    # Then the first is served (no key: 401, from the authorizer's identity check, after throttling)
    assert_error(answers[0], 401, "UNAUTHORIZED")
    # And the next ones, within the second, are refused before the authorizer: 429 with Retry-After
    refused = [answer for answer in answers[1:] if answer.status == 429]
    assert refused, [answer.status for answer in answers]
    for answer in refused:
        assert_error(answer, 429, "RATE_LIMITED")
        assert answer.headers["retry-after"] == "1"
    # And another method has its own bucket
    assert_error(throttled.request("DELETE", "/v1/messages/x"), 401, "UNAUTHORIZED")
