"""HTTP answered without a network: a urllib handler that serves canned answers, for the outbound
client's tests and media staging's."""

import http.client
import io
import urllib.request
import urllib.response
from collections.abc import Callable
from dataclasses import dataclass, field

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1024


class CountingBody(io.BytesIO):
    """A response body that counts what was read from it, and can fail after some bytes."""

    def __init__(self, body: bytes, fail_after: int | None = None) -> None:
        super().__init__(body)
        self.bytes_read = 0
        self._fail_after = fail_after

    def read(self, size: int | None = -1) -> bytes:
        return self._counted(super().read, size)

    def read1(self, size: int | None = -1) -> bytes:
        return self._counted(super().read1, size)

    def _counted(self, read: Callable[[int | None], bytes], size: int | None) -> bytes:
        if self._fail_after is not None and self.bytes_read >= self._fail_after:
            raise TimeoutError("timed out")
        chunk = read(size)
        self.bytes_read += len(chunk)
        return chunk


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "image/png"})
    body: bytes = PNG
    fail_after: int | None = None
    served: list[CountingBody] = field(default_factory=list)

    def response(self, url: str) -> urllib.response.addinfourl:
        headers = http.client.HTTPMessage()
        for name, value in self.headers.items():
            headers[name] = value
        body = CountingBody(self.body, self.fail_after)
        self.served.append(body)
        return urllib.response.addinfourl(body, headers, url, self.status)


class FakeHttps(urllib.request.BaseHandler):
    """Stands in for the handler: each URL's answer (or the error its transport raises)."""

    def __init__(self, answers: dict[str, Answer | BaseException]) -> None:
        self.answers = answers
        self.requests: list[urllib.request.Request] = []

    def https_open(self, req: urllib.request.Request) -> urllib.response.addinfourl:
        self.requests.append(req)
        answer = self.answers[req.full_url]
        if isinstance(answer, BaseException):
            raise answer
        return answer.response(req.full_url)

    http_open = https_open


def redirect(location: str, status: int = 302) -> Answer:
    """A redirect answer to ``location``."""
    return Answer(status=status, headers={"Location": location}, body=b"")
