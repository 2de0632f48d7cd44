"""The caller, as the authorizer described it in ``requestContext.authorizer``."""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agentmessage.errors import Forbidden, Unauthorized
from agentmessage.model import Mode


class Scope(StrEnum):
    SEND = "messages:send"
    READ = "messages:read"


@dataclass(frozen=True, slots=True)
class Caller:
    org_id: str
    key_id: str
    mode: Mode
    scopes: frozenset[str]

    def require(self, scope: Scope) -> "Caller":
        if scope not in self.scopes:
            raise Forbidden()
        return self


def caller_from_authorizer(context: Mapping[str, Any] | None) -> Caller:
    """The authorizer's context, or ``Unauthorized`` when a request arrives without one.

    API Gateway passes context values as strings; ``scopes`` is space separated.
    """
    if not context:
        raise Unauthorized()
    org_id = context.get("org_id")
    key_id = context.get("key_id")
    mode = context.get("mode")
    scopes = context.get("scopes")
    if not (isinstance(org_id, str) and org_id and isinstance(key_id, str) and isinstance(scopes, str)):
        raise Unauthorized()
    if mode not in {Mode.LIVE.value, Mode.TEST.value}:
        raise Unauthorized()
    parsed_mode = Mode(mode)
    return Caller(org_id=org_id, key_id=key_id, mode=parsed_mode, scopes=frozenset(scopes.split()))
