"""No API key and no message text appears in anything the functions log or print."""

from typing import Any

import pytest

from agentmessage.domain.message import Mode
from agentmessage.keys.api_keys import generate_key
from tests.integration.conftest import Aws
from tests.support.api import answer_of
from tests.support.events import (
    authorizer_context,
    authorizer_event,
    dispatch_body,
    message_event,
    send_event,
    sqs_event,
)
from tests.support.keys import store_key
from tests.support.logs import captured_logs
from tests.support.messages import ORG, send_body

MARKER = "Zebra7731 quartz lantern: the secret text"


def test_keys_and_message_texts_never_reach_the_logs(
    aws: Aws, invoke: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a stored key, an unknown key and a revoked key
    dynamodb, keys_table = aws.client("dynamodb"), aws.stack.refs["ApiKeysTable"]
    key, _ = store_key(dynamodb, keys_table, org_id=ORG)
    unknown = generate_key(Mode.LIVE)
    revoked, _ = store_key(dynamodb, keys_table, org_id=ORG, revoked=True)
    secrets = [key, unknown, revoked] + [k.split("_", 2)[2] for k in (key, unknown, revoked)]
    bearer = {"Authorization": f"Bearer {key}"}

    with captured_logs(capsys, caplog) as logs:
        # When the authorizer accepts the key and rejects the others (and a malformed one)
        invoke("AuthorizerFunction")(authorizer_event(f"Bearer {key}"))
        for refused in (unknown, revoked, key[:-1] + "!"):
            with pytest.raises(Exception, match=r"^Unauthorized$"):
                invoke("AuthorizerFunction")(authorizer_event(f"Bearer {refused}"))
        # and a message with a distinctive text is sent, retried under a key, read, canceled,
        send = invoke("SendMessageFunction")
        context = authorizer_context(org_id=ORG)
        message_id = answer_of(
            send(send_event(send_body(text=MARKER), authorizer=context, headers=bearer))
        ).data["id"]
        idempotent = bearer | {"Idempotency-Key": "log-check"}
        for _ in range(2):
            send(send_event(send_body(text=MARKER), authorizer=context, headers=idempotent))
        invoke("GetMessageFunction")(message_event("GET", message_id, authorizer=context))
        invoke("CancelMessageFunction")(message_event("DELETE", message_id, authorizer=context))
        # and another is dispatched to the sandbox carrier,
        dispatched = answer_of(send(send_event(send_body(text=MARKER), authorizer=context))).data["id"]
        invoke("DispatchFunction")(sqs_event([dispatch_body(ORG, dispatched)]))
        # and bodies holding the text are refused (validation, reused key, not a JSON object)
        send(send_event(send_body(text=MARKER, to="not-a-number"), authorizer=context, headers=bearer))
        send(send_event(send_body(text=MARKER + "!"), authorizer=context, headers=idempotent))
        send(send_event(raw_body='{"text": "' + MARKER, authorizer=context, headers=bearer))
        output = logs.text()

    # Then the functions did log (the capture works)
    assert "message accepted" in output
    assert "key accepted" in output
    assert "key rejected" in output
    # and neither a key, nor its secret part, nor the text appears anywhere
    for secret in secrets:
        assert secret not in output
    assert MARKER not in output
    assert "Zebra7731" not in output
