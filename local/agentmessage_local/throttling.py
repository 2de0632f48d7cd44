"""API Gateway's stage throttling: a token bucket per method, from the stage's ``MethodSettings``.

API Gateway applies a stage's throttling targets "at the API method level": every method of the
stage gets its own bucket of ``ThrottlingBurstLimit`` tokens, refilled at ``ThrottlingRateLimit``
per second; a request that finds its bucket empty is answered ``THROTTLED`` (429) before the
authorizer runs. A ``MethodSettings`` entry names its methods by ``ResourcePath`` (``/*`` for all,
else ``/`` and the resource path with its slashes written ``~1``: ``/~1v1~1messages``) and
``HttpMethod`` (``*`` for all); the most specific entry that sets a limit wins. A method no entry
covers is not throttled here (only by the account's limits, which the local stack does not emulate).
"""

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class MethodSetting:
    resource_path: str  # "/*", or a resource path with "/" escaped as "~1"
    http_method: str  # "*" or GET, POST ...
    burst_limit: int | None
    rate_limit: float | None

    def covers(self, method: str, resource: str) -> bool:
        # "/~1v1~1messages" names /v1/messages: a slash, then the path with its slashes as "~1"
        resource_ok = self.resource_path == "/*" or self.resource_path[1:].replace("~1", "/") == resource
        return resource_ok and self.http_method in ("*", method)

    @property
    def specificity(self) -> int:
        return (self.resource_path != "/*") * 2 + (self.http_method != "*")


class TokenBucket:
    """``burst`` tokens at most, ``rate`` more every second; each request takes one."""

    def __init__(self, burst: int, rate: float, monotonic: Callable[[], float]) -> None:
        self._capacity = float(max(0, burst))
        self._rate = max(0.0, rate)
        self._monotonic = monotonic
        self._tokens = self._capacity
        self._updated = monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class StageThrottle:
    def __init__(
        self, settings: Iterable[MethodSetting], monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = sorted(settings, key=lambda setting: -setting.specificity)
        self._monotonic = monotonic
        self._buckets: dict[tuple[str, str], TokenBucket | None] = {}
        self._lock = threading.Lock()

    def limits(self, method: str, resource: str) -> tuple[int, float] | None:
        """The (burst, rate) that apply to a method, each from the most specific entry setting it."""
        burst = next(
            (
                s.burst_limit
                for s in self._settings
                if s.burst_limit is not None and s.covers(method, resource)
            ),
            None,
        )
        rate = next(
            (s.rate_limit for s in self._settings if s.rate_limit is not None and s.covers(method, resource)),
            None,
        )
        if burst is None and rate is None:
            return None
        # One given without the other: API Gateway keeps the account's value (10,000 rps, 5,000 burst).
        return (5000 if burst is None else burst, 10000.0 if rate is None else rate)

    def allow(self, method: str, resource: str) -> bool:
        """Whether a request to this method may go on (it takes a token if so)."""
        with self._lock:
            key = (method, resource)
            if key not in self._buckets:
                limits = self.limits(method, resource)
                self._buckets[key] = None if limits is None else TokenBucket(*limits, self._monotonic)
            bucket = self._buckets[key]
        return bucket is None or bucket.take()
