"""Thread-count resolution for the kernels.

``num_threads=None`` means OpenMP's current maximum, read at each step, so that
``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits`` are honoured (libgomp keeps that
maximum per thread: a limit set in one thread does not reach optimizers stepped in another).
Arrays below ``PARALLEL_THRESHOLD`` elements always run on the calling thread.  A thread
count is at most ``MAX_THREADS`` (4 per CPU, at least 64, within ``OMP_THREAD_LIMIT``):
a larger ``num_threads`` is refused, a larger OpenMP maximum capped.
"""

from __future__ import annotations

import operator
import os
from typing import Any

from fastopt import _dispatch

MAX_THREADS = _dispatch.MAX_THREADS


def check_num_threads(num_threads: Any) -> int | None:
    """Validate a user's ``num_threads`` (None, or an int from 1 to MAX_THREADS) and return
    it: every way to give one (optimizers, their ``num_threads`` attribute, minimize's
    options) comes here."""
    if num_threads is None:
        return None
    try:
        n = operator.index(num_threads)
    except TypeError:
        raise TypeError(f"Invalid num_threads: {num_threads!r} "
                        "(expected a positive int or None)") from None
    if n < 1:
        raise ValueError(f"Invalid num_threads: {n} (expected a positive int or None)")
    if n > MAX_THREADS:
        raise ValueError(f"Invalid num_threads: {n} (at most {MAX_THREADS} here: 4 threads "
                         "per CPU, at least 64, within OMP_THREAD_LIMIT)")
    return n


# See _dispatch.after_fork_in_child: a forked child runs every kernel on its calling thread.
# (_dispatch.resolve_threads turns a validated num_threads into the team size to request.)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_dispatch.after_fork_in_child)
