"""Who is asking: the org, the key and its mode, and the scopes the key grants."""

from dataclasses import dataclass
from enum import StrEnum

from agentmessage.domain.errors import ScopeMissing
from agentmessage.domain.message import Mode


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
            raise ScopeMissing()
        return self
