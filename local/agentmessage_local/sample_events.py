"""The public sample key of ``events/``, stored in the local stack so the sample events work.

``events/authorizer.json`` carries the key (its ``Authorization`` header), and the proxy events'
``requestContext.authorizer`` the record it stands for (org, key id, scopes, mode). The local stack
stores that record at start, so ``agentmessage invoke AuthorizerFunction -e events/authorizer.json``
is allowed against it, and the sample key opens the running API for the sample org. The key is
public: it is only ever stored in a local stack (a test key: the sandbox carrier), never deployed.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from botocore.exceptions import ClientError

from agentmessage.domain.message import Mode
from agentmessage.integration.api_keys_table import DynamoKeyStore
from agentmessage.keys.api_keys import ApiKeyRecord, bearer_token, hash_key, is_well_formed
from agentmessage_local.template import ROOT

EVENTS_DIR = ROOT / "events"


@dataclass(frozen=True)
class SampleKey:
    key: str
    org_id: str
    key_id: str
    scopes: tuple[str, ...]
    mode: Mode


def sample_key(events_dir: Path = EVENTS_DIR) -> SampleKey | None:
    """The sample key and its record, read from the sample events; ``None`` when they are not
    there or do not hold one."""
    try:
        authorizer = json.loads((events_dir / "authorizer.json").read_text(encoding="utf-8"))
        context = json.loads((events_dir / "send.json").read_text(encoding="utf-8"))["requestContext"][
            "authorizer"
        ]
        key = bearer_token(authorizer["headers"]["Authorization"])
        if key is None or not is_well_formed(key):
            return None
        return SampleKey(
            key=key,
            org_id=str(context["org_id"]),
            key_id=str(context["key_id"]),
            scopes=tuple(str(context["scopes"]).split()),
            mode=Mode(context["mode"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store_sample_key(store: DynamoKeyStore, sample: SampleKey, now: datetime) -> bool:
    """Store the sample key's record, by its hash; ``False`` when it is there already (a second
    stack on the same endpoint), which is kept as it is."""
    record = ApiKeyRecord(
        key_hash=hash_key(sample.key),
        key_id=sample.key_id,
        org_id=sample.org_id,
        scopes=tuple(sorted(sample.scopes)),
        mode=sample.mode,
        created_at=now,
    )
    try:
        store.put(record)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return False
    return True
