"""A Lambda REQUEST authorizer run as API Gateway runs it.

- A request missing any identity source (here the ``Authorization`` header) is answered 401
  without calling the authorizer.
- The authorizer's output (policy, principal, context) is cached by the identity source values
  for ``ReauthorizeEvery`` seconds (0: no cache); a cached policy is evaluated again against
  each request's method ARN, so one wildcard Allow serves every route. The cache key holds every
  value of each identity source (a header's values under any case of its name, in order), the
  values the authorizer reads from ``multiValueHeaders``: a result cached for one
  ``Authorization`` value never serves a request that carries another beside it.
- An exception whose message is ``Unauthorized`` is a 401; a policy that does not allow the
  method ARN (or explicitly denies it) a 403; any other failure, or an output without a valid
  policy, is ``AUTHORIZER_CONFIGURATION_ERROR`` (API Gateway's AuthorizerConfigurationException).
"""

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentmessage_local.api_definition import Authorizer
from agentmessage_local.http_messages import HttpRequest
from agentmessage_local.stack_clock import StackClock
from agentmessage_local.workers import Invoker

# The response type for an authorizer that failed (raised anything but "Unauthorized", timed out,
# or returned no valid policy): AUTHORIZER_CONFIGURATION_ERROR, whose x-amzn-ErrorType is
# AuthorizerConfigurationException, as API Gateway reports it.
AUTHORIZER_ERROR = "AUTHORIZER_CONFIGURATION_ERROR"

# The authorizer cache's key: every value of each identity source, in the template's order.
Identity = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Allowed:
    """What API Gateway puts in ``requestContext.authorizer``."""

    context: dict[str, Any]


@dataclass(frozen=True)
class Refused:
    response_type: str  # a gateway response type: UNAUTHORIZED, ACCESS_DENIED, ...


@dataclass(frozen=True)
class _Output:
    principal_id: str
    statements: tuple[dict[str, Any], ...]
    context: dict[str, str]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str) -> re.Pattern[str]:
    """IAM resource matching: ``*`` any run of characters (``/`` too), ``?`` one character."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern))


def policy_allows(statements: tuple[dict[str, Any], ...], method_arn: str) -> bool:
    """An explicit Deny wins; otherwise an Allow must match the method ARN."""
    allowed = False
    for statement in statements:
        actions = _as_list(statement.get("Action", []))
        if not any(_wildcard(str(action)).fullmatch("execute-api:Invoke") for action in actions):
            continue
        if not any(
            _wildcard(str(resource)).fullmatch(method_arn) for resource in _as_list(statement.get("Resource"))
        ):
            continue
        effect = str(statement.get("Effect", "")).capitalize()
        if effect == "Deny":
            return False
        allowed = allowed or effect == "Allow"
    return allowed


def _parse_output(result: Any) -> _Output | None:
    if not isinstance(result, dict):
        return None
    policy = result.get("policyDocument")
    if not isinstance(policy, dict) or not isinstance(policy.get("Statement"), list | dict):
        return None
    statements = tuple(s for s in _as_list(policy["Statement"]) if isinstance(s, dict))
    context = result.get("context") or {}
    if not isinstance(context, dict):
        return None
    # Context values must be strings, numbers or booleans; API Gateway passes them on as strings.
    flat: dict[str, str] = {}
    for key, value in context.items():
        if isinstance(value, bool):
            flat[str(key)] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            flat[str(key)] = str(value)
        else:
            return None
    return _Output(principal_id=str(result.get("principalId", "")), statements=statements, context=flat)


class RequestAuthorizer:
    def __init__(self, config: Authorizer, worker: Invoker, clock: StackClock) -> None:
        if config.payload_type != "REQUEST":
            raise ValueError(f"authorizer {config.name}: only REQUEST authorizers are emulated")
        self._config = config
        self._worker = worker
        self._clock = clock
        self._cache: dict[Identity, tuple[float, _Output]] = {}
        self._lock = threading.Lock()

    def identity(self, request: HttpRequest, query: Mapping[str, Sequence[str]]) -> Identity | None:
        """Every value of each identity source (a header under any case of its name, a query
        string parameter), or ``None`` when a source has no value that is not empty."""
        sources = [request.header_values(name) for name in self._config.identity_headers]
        sources += [tuple(query.get(name, ())) for name in self._config.identity_query_strings]
        if not all(any(values) for values in sources):
            return None
        return tuple(sources)

    def authorize(
        self,
        request: HttpRequest,
        *,
        query: Mapping[str, Sequence[str]],
        method_arn: str,
        event: Callable[[], dict[str, Any]],
    ) -> Allowed | Refused:
        identity = self.identity(request, query)
        if identity is None:
            return Refused("UNAUTHORIZED")
        output = self._cached(identity)
        latency_ms = 0
        if output is None:
            invocation = self._worker.invoke(event())
            latency_ms = round(invocation.duration_ms)
            if not invocation.ok:
                assert invocation.error is not None
                if invocation.error.get("errorMessage") == "Unauthorized":
                    return Refused("UNAUTHORIZED")
                return Refused(AUTHORIZER_ERROR)
            output = _parse_output(invocation.result)
            if output is None:
                return Refused(AUTHORIZER_ERROR)
            self._remember(identity, output)
        if not policy_allows(output.statements, method_arn):
            return Refused("ACCESS_DENIED")
        return Allowed(
            {**output.context, "principalId": output.principal_id, "integrationLatency": latency_ms}
        )

    def _cached(self, identity: Identity) -> _Output | None:
        with self._lock:
            entry = self._cache.get(identity)
            if entry is None:
                return None
            expires, output = entry
            if self._clock.timestamp() >= expires:
                del self._cache[identity]
                return None
            return output

    def _remember(self, identity: Identity, output: _Output) -> None:
        if self._config.ttl_seconds <= 0:
            return
        with self._lock:
            self._cache[identity] = (self._clock.timestamp() + self._config.ttl_seconds, output)
