"""``cached``: a factory that builds its object once per container and set of arguments.

As ``functools.cache``, but two threads that ask at once get the same object (the local stack and
the concurrency tests run several dispatcher threads in one process; Lambda runs one at a time).
"""

import functools
import threading
from collections.abc import Callable
from typing import Any


class Cached[**P, R]:
    def __init__(self, factory: Callable[P, R]) -> None:
        self._factory: Any = functools.cache(factory)
        self._lock = threading.RLock()
        functools.update_wrapper(self, factory)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            made: R = self._factory(*args, **kwargs)
            return made

    def cache_clear(self) -> None:
        with self._lock:
            self._factory.cache_clear()


def cached[**P, R](factory: Callable[P, R]) -> Cached[P, R]:
    return Cached(factory)
