"""A request body as a JSON object: valid Unicode text, nested no deeper than ``MAX_DEPTH``."""

import json
from typing import Any

from agentmessage.api.errors import BadRequest

# A send body is two levels deep (an object holding a list); nothing an API takes needs more. Deeper
# JSON is refused before anything walks it (hashing it for idempotency, validating it).
MAX_DEPTH = 32


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json_object(raw: str | None) -> dict[str, Any]:
    """The body as a JSON object of valid Unicode text, or ``BadRequest``."""
    if not raw:
        raise BadRequest()
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest() from exc
    if not isinstance(value, dict):
        raise BadRequest()
    if _depth_exceeds(value, MAX_DEPTH):
        raise BadRequest(f"request body is nested deeper than {MAX_DEPTH} levels")
    try:
        # JSON lets "\\ud800" through, but no store, carrier or UTF-8 answer can hold it.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("request body holds an unpaired UTF-16 surrogate") from None
    return value
