"""Message ids: UUIDv7, sortable by creation time, and the check that a string can name one."""

import time
import uuid

import pytest

from agentmessage.domain import ids


def test_a_new_id_is_a_canonical_uuid_version_7() -> None:
    # Given a new id
    message_id = ids.new_message_id()
    parsed = uuid.UUID(message_id)

    # Then it is version 7 with the RFC 9562 variant, in canonical lower-case form
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert message_id[14] == "7"
    assert message_id[19] in "89ab"
    assert str(parsed) == message_id
    assert ids.is_message_id(message_id)


def test_the_id_carries_its_creation_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the clock at a known millisecond
    unix_ms = 1_795_327_200_123
    monkeypatch.setattr(time, "time_ns", lambda: unix_ms * 1_000_000 + 456_789)

    # When an id is made
    message_id = ids.new_message_id()

    # Then its first 48 bits are that millisecond
    assert uuid.UUID(message_id).int >> 80 == unix_ms


def test_ids_sort_by_creation_across_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given ids made one millisecond apart, many per step (random bits differ)
    clock_ms = iter(range(1_795_327_200_000, 1_795_327_200_000 + 300))
    monkeypatch.setattr(time, "time_ns", lambda: next(clock_ms) * 1_000_000)
    made = [ids.new_message_id() for _ in range(300)]

    # When they are sorted as strings
    # Then the order is the order of creation
    assert sorted(made) == made


def test_ids_do_not_repeat_within_a_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 1_795_327_200_000 * 1_000_000)
    made = {ids.new_message_id() for _ in range(2000)}
    assert len(made) == 2000


def test_random_bits_vary() -> None:
    # The 74 random bits: every hex position after the version changes across ids
    made = [ids.new_message_id().replace("-", "") for _ in range(64)]
    for position in range(13, 32):
        if position == 16:  # the variant nibble holds two random bits only
            continue
        assert len({value[position] for value in made}) > 1


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "not-a-uuid",
        "0196A0B2-3C4D-7E5F-8A6B-7C8D9E0F1A2B",
        "0196a0b23c4d7e5f8a6b7c8d9e0f1a2b",
        "{0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b}",
        "urn:uuid:0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b",
        "0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2",
        "0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2bb",
        "0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2g",
        " 0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b",
        "0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b\n",
        "../0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2",
    ],
)
def test_strings_that_cannot_name_a_message(candidate: str) -> None:
    assert not ids.is_message_id(candidate)


def test_a_canonical_uuid_can_name_a_message() -> None:
    assert ids.is_message_id("0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b")
