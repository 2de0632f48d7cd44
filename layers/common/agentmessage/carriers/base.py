"""The one interface every carrier implements, and what a send can answer."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

TimeLeft = Callable[[], float]  # seconds left in the invocation that sends


def no_time_limit() -> float:
    return math.inf


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """What a carrier needs to send one message; nothing else leaks in."""

    message_id: str
    org_id: str
    from_: str
    to: str
    text: str
    channel: str  # "sms" or "mms"
    media_urls: tuple[str, ...] = ()
    attempt: int = 1  # 1 on the first hand-over, 2 after one retryable failure, ...
    encoding: str = "GSM-7"
    parts: int = 1


@dataclass(frozen=True, slots=True)
class SendResult:
    """The carrier accepted the message, as ``provider_message_id``: it is ``sent``, and what
    became of it arrives later, as receipts."""

    provider_message_id: str


@dataclass(slots=True, eq=False)
class CarrierError(Exception):
    """The carrier did not accept the message."""

    code: str
    detail: str
    retryable: bool = field(default=False)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


class RetryableCarrierError(CarrierError):
    """Nothing was sent and a later try may succeed (throttling, a carrier outage)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail, retryable=True)


class PermanentCarrierError(CarrierError):
    """The message can never be sent as it is (opted out, invalid destination) or may have been."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail, retryable=False)


class Carrier(Protocol):
    """Hands one message to a network. Raises a ``CarrierError`` when it is not accepted.

    ``time_left`` tells how long the invocation has left: a carrier whose send could be cut off
    between the network taking the message and its outcome being recorded does not start it.
    """

    name: str

    def send(self, message: OutboundMessage, *, time_left: TimeLeft = no_time_limit) -> SendResult: ...

    def recorded(self, message: OutboundMessage, result: SendResult) -> None:
        """The send is recorded (``sent``): a carrier that reports receipts itself may now."""
