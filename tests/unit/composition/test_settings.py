"""Each function's environment as a model: its own variables only, checked once."""

import pytest
from pydantic import ValidationError

from agentmessage.composition import settings
from agentmessage.composition.settings import ReadSettings, SendSettings, load
from tests.support.containers import fresh_container


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


@pytest.mark.parametrize(
    ("module", "variable"),
    [
        ("functions.authorizer.app", "API_KEYS_TABLE"),
        ("functions.send.app", "DISPATCH_QUEUE_URL"),
        ("functions.get.app", "MESSAGES_TABLE"),
        ("functions.cancel.app", "SCHEDULE_GROUP"),
        ("functions.dispatch.app", "MEDIA_BUCKET"),
        ("functions.sweep.app", "DISPATCH_QUEUE_URL"),
    ],
)
def test_a_function_with_a_bad_environment_fails_its_init(
    monkeypatch: pytest.MonkeyPatch, module: str, variable: str
) -> None:
    # Given a container whose environment lacks one of the function's variables
    monkeypatch.delenv(variable)

    # When Lambda imports the handler (the init phase), then the import itself fails, loudly
    with pytest.raises(ValidationError) as failed:
        fresh_container(module)
    assert variable in str(failed.value)
