"""How long an AWS call may take, and the time reserves derived from it: the one place for both.

Every client is made from a ``CallLimits``: its connect and read timeouts and how many attempts
botocore may make. ``worst_seconds`` is the longest such a call can take: every attempt waiting
out both timeouts, plus botocore's standard-mode backoff before each retry (at most
``min(2 ** (retry - 1), 20)`` seconds, plus the up to 5 s an ``x-amz-retry-after`` header may add).
Each function's sequence of calls, added up, must fit in its ``Timeout`` with room to answer:
``tests/unit/test_time_budget.py`` checks it against the template. DNS lookups are not bounded
by these timeouts; the addresses the functions call are AWS's own and cached by the resolver.
"""

from dataclasses import dataclass
from functools import cached_property
from typing import Final

from botocore.config import Config

_MAX_BACKOFF: Final = 20.0
_RETRY_AFTER_EXTRA: Final = 5.0


@dataclass(frozen=True)
class CallLimits:
    name: str  # two limits with the same numbers are still two paths' limits
    connect: float
    read: float
    attempts: int

    @cached_property
    def config(self) -> Config:
        return Config(
            connect_timeout=self.connect,
            read_timeout=self.read,
            retries={"mode": "standard", "total_max_attempts": self.attempts},
            tcp_keepalive=True,
        )

    @property
    def worst_seconds(self) -> float:
        backoff = sum(
            min(2.0 ** (retry - 1), _MAX_BACKOFF) + _RETRY_AFTER_EXTRA for retry in range(1, self.attempts)
        )
        return self.attempts * (self.connect + self.read) + backoff


# Behind the API: a client waits for each call, and API Gateway gives up at 29 s. A read may retry
# once; every other call is made once, so a sequence stays short: a refused call before the message
# is stored is a 503 the client retries (with its Idempotency-Key, safely), and one after it is left
# to the sweeper.
API_READ: Final = CallLimits("API_READ", connect=1, read=2, attempts=2)
API_ONCE: Final = CallLimits("API_ONCE", connect=1, read=2, attempts=1)

# The dispatcher's and the sweeper's DynamoDB and SQS calls: one retry, so a throttled write
# rarely costs a message a minute.
PIPELINE: Final = CallLimits("PIPELINE", connect=1, read=2, attempts=2)

# AWS End User Messaging's send: one attempt in all. A timed-out send may have gone out, so
# botocore must never resend it; the dispatcher decides what to retry.
CARRIER: Final = CallLimits("CARRIER", connect=2, read=8, attempts=1)

# Staging a live MMS's media: its S3 put, once (a failure is retryable: the message is released and
# the put, idempotent, tried again later), after the fetch, which ends within ``MEDIA_FETCH_SECONDS``.
MEDIA_PUT: Final = CallLimits("MEDIA_PUT", connect=1, read=4, attempts=1)
MEDIA_FETCH_TOTAL: Final = 10.0  # no connect, receive or redirect starts after this
MEDIA_FETCH_READ: Final = 5.0  # one receive that started just before may take this long
MEDIA_FETCH_SECONDS: Final = MEDIA_FETCH_TOTAL + MEDIA_FETCH_READ

# What a function needs after its last call to build and return its answer.
ANSWER_ROOM: Final = 1.0

# The live carrier starts a send only with the time for it and for the write that records it.
SEND_RESERVE: Final = CARRIER.worst_seconds + PIPELINE.worst_seconds

# The dispatcher starts a record only with the time to claim it, stage its media, send and record it.
STAGING_SECONDS: Final = MEDIA_FETCH_SECONDS + MEDIA_PUT.worst_seconds
RECORD_RESERVE: Final = PIPELINE.worst_seconds + STAGING_SECONDS + SEND_RESERVE + ANSWER_ROOM

# The sweeper starts a step (one page read, one batch enqueue, or one write) only with the time
# for it, so it stops cleanly before its timeout; what it leaves is due again at the next sweep.
SWEEP_STEP_RESERVE: Final = PIPELINE.worst_seconds + ANSWER_ROOM

# API Gateway's integration timeout: an API function must answer within it, cold start included.
API_GATEWAY_LIMIT: Final = 29.0

# Each API function's AWS calls, one after another, on its longest path (the authorizer's too:
# API Gateway waits for it before the integration). Their worst times, added up with ANSWER_ROOM,
# must fit the function's Timeout in the template, and the Timeout API Gateway's limit; the
# least-privilege test checks that no invocation makes more calls than listed here.
SEQUENCES: Final[dict[str, tuple[CallLimits, ...]]] = {
    "AuthorizerFunction": (API_ONCE,),  # the key's GetItem
    "GetMessageFunction": (API_READ,),  # GetItem
    # The conditional UpdateItem, then the schedule's DeleteSchedule
    "CancelMessageFunction": (API_READ, API_ONCE),
    # Powertools' record (PutItem); the message and its key's record (TransactWriteItems); the key's
    # record read back when the transaction's answer did not carry it (GetItem); the enqueue or the
    # schedule; the enqueue noted on the message (UpdateItem); Powertools' record completed.
    "SendMessageFunction": (API_ONCE,) * 6,
}


def sequence_seconds(function: str) -> float:
    """The worst time of ``function``'s sequence of calls, with the room to answer."""
    return sum(limits.worst_seconds for limits in SEQUENCES[function]) + ANSWER_ROOM
