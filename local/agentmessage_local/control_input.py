"""What the local control endpoints take as a body: one JSON object, small.

The gateway's ``/_local/clock`` and the embedded AWS endpoint's ``/_local/faults`` read their
bodies with these limits and parse them with ``json_object``; whatever they cannot use is a
``ControlInputError``, which each answers in its envelope (413 for a body over ``MAX_BODY_BYTES``,
400 for the rest), never with an HTML page or a dropped connection.
"""

import json
from typing import Any

MAX_BODY_BYTES = 64 * 1024  # a control body is a few fields: far less than this
READ_TIMEOUT_SECONDS = 20.0  # a body that has not arrived by then never will


class ControlInputError(ValueError):
    """A control request's body that cannot be used, with the status to answer it with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def too_large(limit: int = MAX_BODY_BYTES) -> ControlInputError:
    return ControlInputError(413, f"the body is over {limit} bytes")


def json_object(body: bytes, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """``body`` as a JSON object; ``empty`` (when given) for a body of nothing but whitespace.

    ``NaN`` and ``Infinity`` parse, as Python's ``json`` reads them: the endpoint's own checks
    refuse them where a number must be finite.
    """
    if len(body) > MAX_BODY_BYTES:
        raise too_large()
    if empty is not None and not body.strip():
        return dict(empty)
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested past the parser
        raise ControlInputError(400, "the body is not JSON") from exc
    if not isinstance(parsed, dict):
        raise ControlInputError(400, "the body must be a JSON object")
    return parsed
