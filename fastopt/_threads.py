"""Thread-count resolution for the kernels.

``num_threads=None`` means OpenMP's current maximum, read at each step, so that
``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits`` are honoured.  Arrays below
``PARALLEL_THRESHOLD`` elements always run on the calling thread.
"""

import operator

from fastopt import _kernels


def check_num_threads(num_threads):
    """Validate a user's ``num_threads`` (None or a positive int) and return it."""
    if num_threads is None:
        return None
    try:
        n = operator.index(num_threads)
    except TypeError:
        raise TypeError(f"Invalid num_threads: {num_threads!r} (expected a positive int or None)") from None
    if n < 1:
        raise ValueError(f"Invalid num_threads: {n} (expected a positive int or None)")
    return n


def resolve_num_threads(num_threads):
    """The team size to request from a kernel for a validated ``num_threads``."""
    return _kernels.max_threads() if num_threads is None else num_threads
