"""BLAS thread limits that cost microseconds, not milliseconds.

``threadpoolctl.threadpool_limits`` scans the process's loaded libraries on every call (~2 ms
once MLflow and friends are loaded); ranking calls it per batch. One controller, made on first
use, scans once: BLAS is loaded with numpy, long before.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import cache

from threadpoolctl import ThreadpoolController


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def blas_threads(limit: int | None) -> AbstractContextManager[object]:
    """A context manager holding BLAS at ``limit`` threads (``None``: no limit)."""
    return _controller().limit(limits=limit, user_api="blas")
