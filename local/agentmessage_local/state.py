"""The running local stack's settings, in a small file (gitignored) that the CLI reads.

``agentmessage local`` writes it once ready and removes it when it stops; ``agentmessage keys``
and ``agentmessage invoke`` use it to reach the stack with no further settings. Its path is
``.local-stack/state.json`` in the checkout, or ``$AGENTMESSAGE_LOCAL_STATE``.
"""

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentmessage_local.resources import Stack

STATE_ENV = "AGENTMESSAGE_LOCAL_STATE"
ROOT = Path(__file__).resolve().parents[2]  # the checkout (as template.ROOT: not imported, it costs yaml)


def state_path() -> Path:
    configured = os.environ.get(STATE_ENV)
    return Path(configured) if configured else ROOT / ".local-stack" / "state.json"


@dataclass(frozen=True)
class LocalState:
    pid: int
    gateway_url: str
    endpoint_url: str
    region: str
    stage: str
    stack: dict[str, Any]  # Stack.to_json()
    embedded: bool = True  # the AWS endpoint is the stack's own moto (with /_local/faults)

    def resources(self) -> "Stack":
        from agentmessage_local.resources import Stack  # boto3: imported only when needed

        return Stack.from_json(self.stack)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        temporary.replace(path)  # readers never see half a file


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(path: Path | None = None) -> LocalState | None:
    """The running stack's state; ``None`` when none runs (a stale file is ignored)."""
    path = path or state_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    state = LocalState(**data)
    return state if _alive(state.pid) else None
