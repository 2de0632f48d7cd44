"""Why an outbound request got no response: the URL or address was refused, or the exchange failed.

Every HTTP status is a response, not one of these. ``detail`` never repeats the URL, nor any
exception's text that might (a URL may carry a token): it names the exception's type at most.
"""

from enum import StrEnum
from typing import Final


class NetError(Exception):
    """No response was had; ``detail`` says why without the URL."""

    retryable: bool = False

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


class Refused(NetError):
    """The URL, a redirect's target or an address it resolves to is not allowed: never retry it."""


class Failure(StrEnum):
    """What went wrong with a request that was allowed."""

    DEADLINE = "deadline"  # the total time ran out (connect, headers and body together)
    CONNECTION = "connection"  # connect, TLS handshake or request: timed out, refused, reset
    READ = "read"  # the status line, headers or body: timed out, dropped, malformed
    HOST_NOT_FOUND = "host_not_found"  # the name does not resolve
    CERTIFICATE = "certificate"  # the host's TLS certificate did not verify
    BAD_URL = "bad_url"  # a URL http.client or the IDNA codec cannot write: nothing was sent


_RETRYABLE: Final = frozenset({Failure.DEADLINE, Failure.CONNECTION, Failure.READ})


class Failed(NetError):
    """The request was allowed but got no response; ``retryable`` says whether trying again may help.

    ``error_type`` names the exception behind it, if any (never its text).
    """

    def __init__(self, kind: Failure, detail: str, error_type: str | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.error_type = error_type
        self.retryable = kind in _RETRYABLE
