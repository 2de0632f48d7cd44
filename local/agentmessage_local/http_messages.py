"""An HTTP request as the gateway received it, and the response it sends back."""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # as sent, still URL-encoded, without the query string
    query: str  # the raw query string, without '?'
    headers: tuple[tuple[str, str], ...]  # in order, names as sent, repeated names kept
    body: bytes
    source_ip: str
    request_id: str
    received_at: datetime  # on the stack's clock

    def header(self, name: str) -> str | None:
        """The last value of a header (names are case-insensitive), as API Gateway keeps it."""
        values = self.header_values(name)
        return values[-1] if values else None

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of a header, in the order received, whatever the case of its name."""
        return tuple(value for key, value in self.headers if key.lower() == name.lower())


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def set_default_header(self, name: str, value: str) -> None:
        if self.header(name) is None:
            self.headers.append((name, value))
