"""Lambda containers in the test process: a fresh one (every per-container cache forgotten), or a
second one beside the first (a fresh, independent import of a handler)."""

import importlib.util
from types import ModuleType

from agentmessage.carriers.sandbox import SandboxCarrier
from agentmessage.composition import dispatching, sending, settings, storage
from agentmessage.integration import aws_clients


def new_container() -> None:
    """Forget what a container keeps between invocations: settings, clients, the composed objects."""
    settings.load.cache_clear()
    aws_clients.clear()
    storage.clear()
    sending.clear()
    dispatching.clear()


def dispatcher_sandbox() -> SandboxCarrier:
    """The sandbox carrier the dispatcher uses in this container."""
    return dispatching.sandbox_carrier(settings.load(settings.DispatchSettings).receipts_topic_arn)


def fresh_container(module_name: str) -> ModuleType:
    """Import ``module_name`` again as a separate module object (its own resolver and caches),
    as another container of the same function would run it. ``sys.modules`` is left alone."""
    spec = importlib.util.find_spec(module_name)
    assert spec is not None, module_name
    assert spec.loader is not None, module_name
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
