"""``agentmessage keys``: create (the key shown once), list (never the key), revoke."""

import json
from pathlib import Path

from tests.e2e.api_client import ApiClient, assert_error
from tests.e2e.conftest import create_key
from tests.e2e.local_stack import LocalStackProcess

UNKNOWN_ID = "019e6e3d-b3a4-7c41-9d2e-000000000000"


def test_create_prints_only_the_key_and_the_key_opens_the_api(
    local_stack: LocalStackProcess, api: ApiClient
) -> None:
    done = local_stack.cli("keys", "create", "--org", "org_cli", "--scopes", "messages:read")
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert key.startswith("am_test_")
    assert "shown only this once" in done.stderr
    # The key is accepted by the authorizer: the request reaches the handler
    assert_error(api.get(key, UNKNOWN_ID), 404, "NOT_FOUND")


def test_list_shows_each_key_but_never_the_key_itself(local_stack: LocalStackProcess) -> None:
    created = create_key(local_stack, "org_listed", "messages:send")
    live = local_stack.cli(
        "keys", "create", "--org", "org_listed", "--scopes", "messages:read", "--mode", "live", "--json"
    )
    live_key = json.loads(live.stdout)["key"]

    table = local_stack.cli("keys", "list", "--org", "org_listed")
    listed = json.loads(local_stack.cli("keys", "list", "--org", "org_listed", "--json").stdout)

    assert table.returncode == 0
    assert created.key_id in table.stdout
    assert created.key not in table.stdout + json.dumps(listed)
    assert live_key not in table.stdout + json.dumps(listed)
    assert [(k["mode"], k["scopes"], k["revoked_at"]) for k in listed] == [
        ("test", ["messages:send"], None),
        ("live", ["messages:read"], None),
    ]
    assert all("key_hash" not in k for k in listed)


def test_revoke_marks_the_key_revoked(local_stack: LocalStackProcess) -> None:
    created = create_key(local_stack, "org_revoking")
    done = local_stack.cli("keys", "revoke", "--org", "org_revoking", created.key_id)
    assert done.returncode == 0, done.stderr
    [listed] = json.loads(local_stack.cli("keys", "list", "--org", "org_revoking", "--json").stdout)
    assert listed["revoked_at"] is not None
    # Another org cannot revoke it: it has no such key
    other = local_stack.cli("keys", "revoke", "--org", "org_other", created.key_id)
    assert other.returncode == 2
    assert "has no key" in other.stderr


def test_bad_scopes_are_refused(local_stack: LocalStackProcess) -> None:
    done = local_stack.cli("keys", "create", "--org", "org_x", "--scopes", "messages:send,admin")
    assert done.returncode == 2
    assert "admin" in done.stderr


def test_with_no_stack_running_the_cli_says_how_to_reach_one(
    local_stack: LocalStackProcess, tmp_path: Path
) -> None:
    done = local_stack.cli("--state-file", str(tmp_path / "none.json"), "keys", "list", "--org", "org_a")
    assert done.returncode == 2
    assert "no local stack is running" in done.stderr
    assert "--table" in done.stderr
