"""A second Lambda container in the same test process: a fresh, independent import of a handler."""

import importlib.util
from types import ModuleType


def fresh_container(module_name: str) -> ModuleType:
    """Import ``module_name`` again as a separate module object (its own resolver and caches),
    as another container of the same function would run it. ``sys.modules`` is left alone."""
    spec = importlib.util.find_spec(module_name)
    assert spec is not None, module_name
    assert spec.loader is not None, module_name
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
