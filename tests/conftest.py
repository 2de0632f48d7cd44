"""Shared fixtures: AWS settings that can never reach a real account, and fresh caches."""

import os
from collections.abc import Iterator

import pytest

# Powertools reads these when the shared logger and metrics are created, i.e. when a test module
# first imports agentmessage.observability (at collection, before any fixture runs), as Lambda
# has them set before the handler is imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "agentmessage")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AgentMessage")

from agentmessage import aws_clients, settings


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
    _clear_caches()
    yield
    _clear_caches()


def _clear_caches() -> None:
    settings.load.cache_clear()
    for factory in (
        aws_clients.dynamodb,
        aws_clients.sqs,
        aws_clients.scheduler,
        aws_clients.sms_voice,
        aws_clients.s3,
    ):
        factory.cache_clear()
