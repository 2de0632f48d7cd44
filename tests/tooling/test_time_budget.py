"""Time budgets that add up: every function's worst case fits its Timeout, computed from the
template and the clients' own configurations, so a change to either cannot silently break it."""

from typing import Any

import pytest

from agentmessage.integration import time_budget
from agentmessage.integration.time_budget import (
    ANSWER_ROOM,
    API_GATEWAY_LIMIT,
    CARRIER,
    MEDIA_FETCH_SECONDS,
    MEDIA_PUT,
    PIPELINE,
    RECORD_RESERVE,
    SEND_RESERVE,
    SEQUENCES,
    SWEEP_STEP_RESERVE,
    CallLimits,
    sequence_seconds,
)
from agentmessage_local.template import functions, load_template

API_FUNCTIONS = {"AuthorizerFunction", "SendMessageFunction", "GetMessageFunction", "CancelMessageFunction"}


def timeout(function: str) -> int:
    return functions()[function].timeout


def worst_from_config(limits: CallLimits) -> float:
    """The worst time of one call, read back from the botocore Config the clients are made with."""
    config: Any = limits.config
    attempts = config.retries["total_max_attempts"]
    assert config.retries["mode"] == "standard"
    # standard mode's backoff before retry i: at most min(2 ** (i - 1), 20) s, plus at most 5 s
    # more when the answer carries x-amz-retry-after
    backoff = sum(min(2 ** (retry - 1), 20) + 5 for retry in range(1, attempts))
    return float(attempts * (config.connect_timeout + config.read_timeout) + backoff)


def every_limits() -> list[CallLimits]:
    return [value for value in vars(time_budget).values() if isinstance(value, CallLimits)]


@pytest.mark.parametrize("limits", every_limits(), ids=lambda limits: limits.name)
def test_a_calls_worst_time_is_its_configs(limits: CallLimits) -> None:
    assert limits.worst_seconds == worst_from_config(limits)


def test_every_api_function_has_a_budget() -> None:
    api_routes = {
        spec.logical_id
        for spec in functions().values()
        if any(event.get("Type") == "Api" for event in spec.events.values())
    }
    assert set(SEQUENCES) == API_FUNCTIONS == api_routes | {"AuthorizerFunction"}


@pytest.mark.parametrize("function", sorted(API_FUNCTIONS))
def test_an_api_functions_calls_fit_its_timeout_and_api_gateways_limit(function: str) -> None:
    # Given the function's calls at their worst, one after another, and the room to answer
    needed = sum(worst_from_config(limits) for limits in SEQUENCES[function]) + ANSWER_ROOM

    # Then they fit its Timeout, which fits inside API Gateway's integration limit
    assert needed == sequence_seconds(function)
    assert needed <= timeout(function) <= API_GATEWAY_LIMIT, (function, needed, timeout(function))


def test_the_sends_calls_are_each_made_once() -> None:
    # A 503 before the message is stored is retried by the client; nothing after it may hold the answer
    assert all(limits.attempts == 1 for limits in SEQUENCES["SendMessageFunction"])


def test_the_dispatcher_starts_a_record_only_with_the_time_to_finish_it() -> None:
    # The claim, the media staging (the fetch at its bound, then the S3 put), the send, its record
    staging = MEDIA_FETCH_SECONDS + worst_from_config(MEDIA_PUT)
    needed = worst_from_config(PIPELINE) + staging + worst_from_config(CARRIER) + worst_from_config(PIPELINE)
    assert needed + ANSWER_ROOM == RECORD_RESERVE
    assert timeout("DispatchFunction") >= RECORD_RESERVE
    # and the live carrier starts a send only with the send and its record's time left
    assert worst_from_config(CARRIER) + worst_from_config(PIPELINE) == SEND_RESERVE
    assert CARRIER.attempts == 1  # a send that timed out may have gone out: never resent


def test_the_dispatchers_visibility_timeout_outlasts_its_invocations() -> None:
    queue = load_template()["Resources"]["DispatchQueue"]["Properties"]
    assert int(queue["VisibilityTimeout"]) >= 6 * timeout("DispatchFunction")


def test_the_sweeper_stops_a_step_before_its_timeout() -> None:
    assert worst_from_config(PIPELINE) + ANSWER_ROOM == SWEEP_STEP_RESERVE
    assert timeout("SweepFunction") > SWEEP_STEP_RESERVE
