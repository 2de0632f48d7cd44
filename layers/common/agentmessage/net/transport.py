"""urllib's http and https handler for public hosts only, and the deadline it keeps a request to.

The handler resolves the host, refuses it if any address is not allowed by the request's policy,
and connects only to those addresses (never to the name again), so the address checked is the
address connected to; TLS is verified against the host name. A request carrying a ``Deadline``
(a ``TimedRequest``) starts no connect attempt once it has passed, gives each attempt at most the
time left, and starts no receive once it has passed: the status line, the headers and a chunked
body's framing, which http.client reads a line at a time, included.
"""

import http.client
import io
import math
import socket
import ssl
import urllib.request
from collections.abc import Buffer, Callable, Sequence
from functools import partial
from typing import Any

from agentmessage.net.errors import Failed, Failure, Refused
from agentmessage.net.policy import Policy, address_allowed

Resolve = Callable[[str, int], Sequence[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the host resolves to (the system resolver)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


class Deadline:
    """When a request must be done, on the client's clock."""

    def __init__(self, total: float, clock: Callable[[], float]) -> None:
        self.total = total
        self._clock = clock
        self._at = clock() + total

    def check(self) -> float:
        """The seconds left; a retryable ``Failed`` once there are none."""
        left = self._at - self._clock()
        if left <= 0:
            raise Failed(Failure.DEADLINE, f"not done within {self.total:g} s")
        return left


class TimedRequest(urllib.request.Request):
    """A request that carries its deadline and its policy to the connection it is sent on."""

    def __init__(self, url: str, deadline: Deadline, policy: Policy, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.deadline = deadline
        self.policy = policy


class _DeadlineReader(io.RawIOBase):
    """A socket's receiving side on which no receive starts once the deadline has passed.

    http.client reads the status line, the headers and a chunked body's framing with
    ``readline``, which receives as often as it takes to find the end of a line: each receive is
    bounded by the socket's read timeout, and this bounds when one may start.
    """

    def __init__(self, raw: io.RawIOBase, deadline: Deadline) -> None:
        super().__init__()
        self._raw = raw
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer, /) -> int | None:
        self._deadline.check()
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineSocket:
    """The connection's socket, as http.client uses it, with every receive under the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:  # HTTPResponse's one call: makefile("rb")
        return io.BufferedReader(_DeadlineReader(self._sock.makefile("rb", buffering=0), self._deadline))

    def sendall(self, data: Buffer) -> None:
        self._sock.sendall(data)

    def close(self) -> None:
        self._sock.close()


class _Connector:
    """``socket.create_connection`` for a host whose every address the policy allows."""

    def __init__(
        self,
        *,
        resolve: Resolve,
        connect_timeout: float,
        read_timeout: float,
        policy: Policy,
        deadline: Deadline | None,
    ) -> None:
        self._resolve = resolve
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._policy = policy
        self._deadline = deadline

    def _time_left(self) -> float:
        return math.inf if self._deadline is None else self._deadline.check()

    def __call__(
        self, address: tuple[str, int], timeout: object = None, source_address: object = None
    ) -> socket.socket:
        host, port = address
        self._time_left()  # no lookup or connect starts past the deadline
        addresses = list(self._resolve(host, port))
        if not addresses or not all(address_allowed(each, self._policy) for each in addresses):
            raise Refused("the host resolves to a non-public address")
        error: OSError | None = None
        for each in addresses:
            connect_timeout = min(self._connect_timeout, self._time_left())
            try:
                sock = socket.create_connection((each, port), timeout=connect_timeout)
            except OSError as exc:
                error = exc
                continue
            sock.settimeout(self._read_timeout)  # each receive, and the TLS handshake as a whole
            return sock
        raise error or OSError("no address to connect to")

    def under_deadline(self, sock: Any) -> Any:
        return sock if self._deadline is None else _DeadlineSocket(sock, self._deadline)


class _PublicHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, connector: _Connector, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._connector = connector
        self._create_connection = connector

    def connect(self) -> None:
        super().connect()  # TCP to an allowed address (_Connector)
        self.sock = self._connector.under_deadline(self.sock)


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, *, connector: _Connector, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._connector = connector
        self._create_connection = connector

    def connect(self) -> None:
        super().connect()  # TCP to an allowed address (_Connector), then the TLS handshake
        self.sock = self._connector.under_deadline(self.sock)


class PublicHTTPSHandler(urllib.request.HTTPSHandler):
    """urllib's https (and http) handler over connections to allowed addresses only.

    The policy and the deadline come with each ``TimedRequest``; any other request is held to
    the default policy (public addresses only) without a deadline. Whether a scheme may be
    requested at all is the client's check, made before a request reaches a handler.
    """

    def __init__(
        self,
        *,
        read_timeout: float,
        connect_timeout: float = 3.0,
        resolve: Resolve = resolve_host,
    ) -> None:
        super().__init__(context=ssl.create_default_context())
        self._connector = partial(
            _Connector, resolve=resolve, connect_timeout=connect_timeout, read_timeout=read_timeout
        )

    def _connector_for(self, req: urllib.request.Request) -> _Connector:
        if isinstance(req, TimedRequest):
            return self._connector(policy=req.policy, deadline=req.deadline)
        return self._connector(policy=Policy(), deadline=None)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = partial(_PublicHTTPSConnection, connector=self._connector_for(req))
        return self.do_open(connection, req, context=self._context)  # type: ignore[attr-defined]

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = partial(_PublicHTTPConnection, connector=self._connector_for(req))
        return self.do_open(connection, req)

    http_request = urllib.request.AbstractHTTPHandler.do_request_
