"""Each function's environment as a model: its own variables only, checked once."""

import pytest
from pydantic import ValidationError

from agentmessage import settings
from agentmessage.settings import ReadSettings, SendSettings, load


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    load.cache_clear()


def test_a_function_reads_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESSAGES_TABLE", "messages-dev")
    assert load(ReadSettings).messages_table == "messages-dev"


def test_a_bad_environment_fails_without_echoing_anything_else_in_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a function whose variables are missing, beside the runtime's credentials
    for name in ("MESSAGES_TABLE", "SCHEDULE_GROUP", "IDEMPOTENCY_TABLE", "DISPATCH_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "Zebra7731SecretAccessKeyValue000000000000")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "Quartz9931SessionToken" * 20)

    # When its settings are loaded
    with pytest.raises(ValidationError) as failed:
        load(SendSettings)

    # Then the error names the missing variables and nothing of the credentials
    text = str(failed.value)
    assert "MESSAGES_TABLE" in text
    assert "Zebra7731" not in text
    assert "Quartz9931" not in text
    assert "AWS_SECRET_ACCESS_KEY" not in text


def test_settings_are_validated_once_per_container(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESSAGES_TABLE", "first")
    first = load(ReadSettings)
    monkeypatch.setenv("MESSAGES_TABLE", "second")
    assert load(ReadSettings) is first
    assert settings.load.cache_info().hits == 1
