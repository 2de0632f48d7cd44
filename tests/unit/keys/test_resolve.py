"""Resolving a key to its record, with an in-memory key store that records every lookup."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from agentmessage.domain.message import Mode
from agentmessage.keys.api_keys import ApiKeyRecord, generate_key, hash_key
from agentmessage.keys.resolve import authorization_header, resolve_key

CREATED = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class FakeKeyStore:
    records: dict[str, ApiKeyRecord] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def find(self, key_hash: str) -> ApiKeyRecord | None:
        self.lookups.append(key_hash)
        return self.records.get(key_hash)

    def add(self, key: str, *, mode: Mode | None = None, revoked: bool = False) -> ApiKeyRecord:
        record = ApiKeyRecord(
            key_hash=hash_key(key),
            key_id="key_1",
            org_id="org_a",
            scopes=("messages:read", "messages:send"),
            mode=mode or (Mode.LIVE if key.startswith("am_live_") else Mode.TEST),
            created_at=CREATED,
            revoked_at=CREATED if revoked else None,
        )
        self.records[record.key_hash] = record
        return record


@pytest.fixture
def store() -> FakeKeyStore:
    return FakeKeyStore()


@pytest.mark.parametrize("mode", [Mode.TEST, Mode.LIVE])
def test_a_stored_active_key_resolves_to_its_record(store: FakeKeyStore, mode: Mode) -> None:
    # Given a stored key
    key = generate_key(mode)
    record = store.add(key)

    # When its header is resolved
    resolved = resolve_key(f"Bearer {key}", store)

    # Then it is its record, found by its hash alone
    assert resolved == record
    assert store.lookups == [hash_key(key)]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer am_test_short",
        "Bearer am_prod_" + "a" * 40,
        "Bearer am_test_" + "a" * 39 + "!",
        "Bearer am_test_" + "a" * 41,
        "am_test_" + "a" * 40,
    ],
)
def test_a_malformed_key_never_reaches_the_store(store: FakeKeyStore, header: str | None) -> None:
    # Given a store that would answer anything
    # When a malformed header is resolved
    resolved = resolve_key(header, store)

    # Then it is refused without a lookup
    assert resolved is None
    assert store.lookups == []


def test_an_unknown_key_is_refused_after_one_lookup(store: FakeKeyStore) -> None:
    key = generate_key(Mode.TEST)
    assert resolve_key(f"Bearer {key}", store) is None
    assert store.lookups == [hash_key(key)]


def test_a_revoked_key_is_refused(store: FakeKeyStore) -> None:
    key = generate_key(Mode.TEST)
    store.add(key, revoked=True)
    assert resolve_key(f"Bearer {key}", store) is None


@pytest.mark.parametrize(("key_mode", "stored_mode"), [(Mode.TEST, Mode.LIVE), (Mode.LIVE, Mode.TEST)])
def test_a_key_whose_prefix_disagrees_with_its_record_is_refused(
    store: FakeKeyStore, key_mode: Mode, stored_mode: Mode
) -> None:
    # Given a record whose mode is not the key's prefix
    key = generate_key(key_mode)
    store.add(key, mode=stored_mode)

    # Then the key is refused
    assert resolve_key(f"Bearer {key}", store) is None


def test_a_record_whose_hash_is_not_the_keys_is_refused(store: FakeKeyStore) -> None:
    # Given a store that answers another key's record for this hash
    key, other = generate_key(Mode.TEST), generate_key(Mode.TEST)
    store.records[hash_key(key)] = store.add(other)

    # Then the key is refused
    assert resolve_key(f"Bearer {key}", store) is None


def test_only_the_hash_reaches_the_store(store: FakeKeyStore) -> None:
    # Given a key
    key = generate_key(Mode.LIVE)

    # When it is resolved
    resolve_key(f"Bearer {key}", store)

    # Then the store saw its hash and nothing of the key
    [seen] = store.lookups
    assert seen == hash_key(key)
    assert key[8:] not in seen


# -- the one Authorization value ---------------------------------------------------------------------


def test_the_authorization_value_is_read_in_any_case_of_the_name() -> None:
    assert authorization_header({"authorization": "Bearer k"}, {"authorization": ["Bearer k"]}) == "Bearer k"
    assert authorization_header({"AUTHORIZATION": "Bearer k"}, None) == "Bearer k"


@pytest.mark.parametrize(
    "multi",
    [
        {"Authorization": ["Bearer a", "Bearer b"]},  # one header, repeated
        {"Authorization": ["Bearer a"], "authorization": ["Bearer b"]},  # two spellings
        {"Authorization": ["Bearer a"], "authorization": ["Bearer a"]},  # even the same key twice
    ],
    ids=["repeated", "two-spellings", "same-twice"],
)
def test_more_than_one_authorization_value_is_none(multi: dict[str, list[str]]) -> None:
    single = {name: values[-1] for name, values in multi.items()}
    assert authorization_header(single, multi) is None


def test_no_authorization_value_is_none() -> None:
    assert authorization_header({"Host": "x"}, {"Host": ["x"]}) is None
    assert authorization_header(None, None) is None
