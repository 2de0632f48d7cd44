"""Carriers: the interface every carrier implements.

The implementations live in their own modules (``carriers.sandbox``, ``carriers.aws``) so that
importing the interface never pulls in boto3.
"""

from agentmessage.carriers.base import (
    Carrier,
    CarrierError,
    OutboundMessage,
    PermanentCarrierError,
    RetryableCarrierError,
    SendResult,
)

__all__ = [
    "Carrier",
    "CarrierError",
    "OutboundMessage",
    "PermanentCarrierError",
    "RetryableCarrierError",
    "SendResult",
]
