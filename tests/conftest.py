"""Shared fixtures: AWS settings that can never reach a real account, and fresh caches."""

import os
from collections.abc import Iterator

import pytest

# Powertools reads these when the shared logger and metrics are created, i.e. when a test module
# first imports agentmessage.observability (at collection, before any fixture runs), as Lambda
# has them set before the handler is imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "agentmessage")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AgentMessage")

from agentmessage_local.resources import planned_stack
from agentmessage_local.template import functions
from tests.support.containers import new_container

# Every function validates its environment when its module is imported (its init): give each the
# template's variables, resolved against placeholder names, so test modules can import handlers.
# Fixtures that build real resources set the real names for each test.
_PLANNED = planned_stack()
for _spec in functions().values():
    for _name, _value in _PLANNED.environment(_spec).items():
        os.environ.setdefault(_name, _value)


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "AgentMessage")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "agentmessage")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    new_container()
    yield
    new_container()
