"""The sample events in ``events/`` and the fixed values they share (see events/README.md)."""

from pathlib import Path

EVENTS = Path(__file__).resolve().parents[2] / "events"
FUNCTION_OF = {
    "authorizer.json": "AuthorizerFunction",
    "send.json": "SendMessageFunction",
    "get.json": "GetMessageFunction",
    "cancel.json": "CancelMessageFunction",
    "dispatch.json": "DispatchFunction",
    "sweep.json": "SweepFunction",
    "receipt.json": "ReceiptFunction",
}
SAMPLE_KEY = "am_test_SampleKeyForSamLocalInvoke0123456789abcd"
SAMPLE_ORG = "org_sample"
SAMPLE_MESSAGE_ID = "019e6e3d-b3a4-7c41-9d2e-4f6a8b0c1d2e"
