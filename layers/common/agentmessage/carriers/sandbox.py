"""The sandbox carrier: deterministic outcomes by destination number, no network.

Used with test keys and by the local stack. The numbers come from the NANP range reserved for
fictional use (555-0100 to 555-0199), so none of them can reach a real phone.
"""

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from agentmessage.carriers.base import (
    CarrierError,
    OutboundMessage,
    PermanentCarrierError,
    RetryableCarrierError,
    SendResult,
    TimeLeft,
    no_time_limit,
)


@dataclass(frozen=True, slots=True)
class SandboxOutcome:
    """What the sandbox answers for one destination number."""

    description: str
    error_code: str | None = None  # the send fails with this code
    retryable: bool = False  # the failure is a RetryableCarrierError
    failing_attempts: int | None = None  # attempts 1..n fail, later ones succeed; None: every one fails
    delivered: bool = True  # on success: delivery confirmed at once, or left waiting for a receipt

    def error_for(self, attempt: int) -> CarrierError | None:
        """The error a send on this ``attempt`` raises, or ``None`` when it is accepted."""
        if self.error_code is None:
            return None
        if self.failing_attempts is not None and attempt > self.failing_attempts:
            return None
        if self.retryable:
            return RetryableCarrierError(self.error_code, f"sandbox: {self.description}")
        return PermanentCarrierError(self.error_code, f"sandbox: {self.description}")


DEFAULT_OUTCOME = SandboxOutcome("any number not in the table is delivered")

SANDBOX_NUMBERS: Mapping[str, SandboxOutcome] = MappingProxyType(
    {
        "+15555550101": SandboxOutcome(
            "the destination is unreachable (permanent)",
            error_code="DESTINATION_UNREACHABLE",
        ),
        "+15555550102": SandboxOutcome(
            "throttled on the first attempt (retryable), delivered on any later attempt",
            error_code="CARRIER_THROTTLED",
            retryable=True,
            failing_attempts=1,
        ),
        "+15555550103": SandboxOutcome(
            "sent, but no delivery receipt ever arrives",
            delivered=False,
        ),
        "+15555550104": SandboxOutcome(
            "the recipient has opted out (permanent)",
            error_code="DESTINATION_OPTED_OUT",
        ),
    }
)


def outcome_for(destination: str) -> SandboxOutcome:
    """The table entry for ``destination``, or the default (delivered)."""
    return SANDBOX_NUMBERS.get(destination, DEFAULT_OUTCOME)


class SandboxCarrier:
    """A carrier that answers from ``SANDBOX_NUMBERS`` and records every message it accepts.

    Stateless about outcomes (a retry is told apart by ``OutboundMessage.attempt``), so one
    instance can serve concurrent sends. ``accepted`` lists the messages the sandbox took, in
    order; a send that raises is not recorded.
    """

    name: str = "sandbox"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accepted: list[OutboundMessage] = []

    def send(self, message: OutboundMessage, *, time_left: TimeLeft = no_time_limit) -> SendResult:
        outcome = outcome_for(message.to)
        error = outcome.error_for(message.attempt)
        if error is not None:
            raise error
        with self._lock:
            self.accepted.append(message)
        return SendResult(provider_message_id=f"sandbox-{message.message_id}", delivered=outcome.delivered)

    def times_accepted(self, message_id: str) -> int:
        """How many times the message with ``message_id`` was accepted (at most once, if all is well)."""
        with self._lock:
            return sum(1 for message in self.accepted if message.message_id == message_id)
