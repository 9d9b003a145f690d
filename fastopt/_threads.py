"""Thread-count resolution for the kernels.

``num_threads=None`` means OpenMP's current maximum, read at each step, so that
``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits`` are honoured.  Arrays below
``PARALLEL_THRESHOLD`` elements always run on the calling thread.
"""

from __future__ import annotations

import operator
import os
from typing import Any

from fastopt import _kernels


def check_num_threads(num_threads: Any) -> int | None:
    """Validate a user's ``num_threads`` (None or a positive int) and return it."""
    if num_threads is None:
        return None
    try:
        n = operator.index(num_threads)
    except TypeError:
        raise TypeError(f"Invalid num_threads: {num_threads!r} "
                        "(expected a positive int or None)") from None
    if n < 1:
        raise ValueError(f"Invalid num_threads: {n} (expected a positive int or None)")
    return n


# See _kernels.after_fork_in_child: a forked child runs every kernel on its calling thread.
# (_kernels.resolve_threads turns a validated num_threads into the team size to request.)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_kernels.after_fork_in_child)
