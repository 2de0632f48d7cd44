"""API keys: their shape, their hash, how they are made and read from the Authorization header."""

import hashlib
import re
import string

import pytest

from agentmessage.domain.message import Mode
from agentmessage.keys.api_keys import (
    KEY_LENGTH,
    SECRET_LENGTH,
    bearer_token,
    generate_key,
    hash_key,
    is_well_formed,
    mode_of,
    new_key_id,
)

BASE62 = set(string.ascii_letters + string.digits)
SECRET = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"


def test_the_sample_secret_has_the_right_length() -> None:
    assert SECRET_LENGTH == len(SECRET) == 40
    assert len("am_test_") + 40 == KEY_LENGTH


@pytest.mark.parametrize("mode", [Mode.LIVE, Mode.TEST])
def test_generated_keys_are_well_formed_and_of_their_mode(mode: Mode) -> None:
    # Given a key made for a mode
    key = generate_key(mode)

    # Then it has the mode's prefix, 40 base62 characters, and the checks agree
    prefix, secret = key[: len(f"am_{mode.value}_")], key[len(f"am_{mode.value}_") :]
    assert prefix == f"am_{mode.value}_"
    assert len(secret) == SECRET_LENGTH
    assert set(secret) <= BASE62
    assert len(key) == KEY_LENGTH
    assert is_well_formed(key)
    assert mode_of(key) is mode


def test_generated_keys_do_not_repeat() -> None:
    keys = {generate_key(Mode.TEST) for _ in range(500)}
    assert len(keys) == 500


def test_generated_keys_use_the_whole_alphabet() -> None:
    # 200 keys hold 8000 secret characters: every one of the 62 should appear
    seen = set().union(*(generate_key(Mode.LIVE)[8:] for _ in range(200)))
    assert seen == BASE62


@pytest.mark.parametrize(
    "key", [f"am_live_{SECRET}", f"am_test_{SECRET}", "am_test_" + "0" * 40, "am_live_" + "Z" * 40]
)
def test_well_formed_keys(key: str) -> None:
    assert is_well_formed(key)


@pytest.mark.parametrize(
    "key",
    [
        "",
        SECRET,
        f"am_prod_{SECRET}",
        f"AM_TEST_{SECRET}",
        f"am-test-{SECRET}",
        f"am_test{SECRET}",
        f"am_test_{SECRET[:-1]}",
        f"am_test_{SECRET}x",
        f"am_test_{SECRET[:-1]}-",
        f"am_test_{SECRET[:-1]}_",
        f"am_test_{SECRET[:-1]}+",
        f"am_test_{SECRET[:-1]}é",
        f"am_test_{SECRET[:-1]}٣",  # a non-ASCII digit
        f"am_test_{SECRET[:-1]} ",
        f"am_test_{SECRET}\n",
        f" am_test_{SECRET}",
    ],
)
def test_malformed_keys(key: str) -> None:
    assert not is_well_formed(key)


def test_the_hash_is_the_sha256_hex_digest() -> None:
    # Given a key
    key = f"am_test_{SECRET}"

    # When it is hashed
    digest = hash_key(key)

    # Then it is SHA-256 in lower-case hex, stable, and says nothing of the key
    assert digest == hashlib.sha256(key.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert hash_key(key) == digest
    assert SECRET not in digest


def test_different_keys_have_different_hashes() -> None:
    assert hash_key(f"am_test_{SECRET}") != hash_key(f"am_live_{SECRET}")


def test_key_ids_are_distinct_and_not_secret() -> None:
    ids = {new_key_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"key_[0-9a-f]{16}", key_id) for key_id in ids)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (f"Bearer am_test_{SECRET}", f"am_test_{SECRET}"),
        (f"bearer am_test_{SECRET}", f"am_test_{SECRET}"),
        (f"BEARER am_test_{SECRET}", f"am_test_{SECRET}"),
        (f"  Bearer   am_test_{SECRET}  ", f"am_test_{SECRET}"),
        ("Bearer x", "x"),
    ],
)
def test_the_bearer_token_is_read_from_the_header(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        f"Basic am_test_{SECRET}",
        f"am_test_{SECRET}",
        f"Token {SECRET}",
    ],
)
def test_no_bearer_token(header: str | None) -> None:
    assert bearer_token(header) is None
