"""What an outside probe of the process found: interrupts in the middle of a step, thread
counts the OS cannot give, OpenMP limits seen from other threads, and optimizers over
thousands of arrays.  (Refusals are rows of tests/test_bad_input.py; concurrent use of one
optimizer is in tests/test_threads_concurrency.py.)"""

import threading

import pytest

import fastopt
from fastopt import _kernels


openmp_only = pytest.mark.skipif(not fastopt.openmp_enabled(), reason="serial build")


@openmp_only
def test_an_openmp_maximum_past_the_cap_is_capped():
    """OpenMP's maximum (OMP_NUM_THREADS, threadpoolctl) is followed up to MAX_THREADS: a
    team of tens of thousands of threads aborts or crashes the process."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    big = 100 * _kernels.MAX_THREADS
    with threadpoolctl.threadpool_limits(limits=big, user_api="openmp"):
        assert _kernels.max_threads() == big
        assert _kernels.resolve_threads(None) == _kernels.MAX_THREADS
        assert _kernels.resolve_threads(big) == _kernels.MAX_THREADS
    assert _kernels.MAX_THREADS >= 64


@openmp_only
def test_threadpool_limits_holds_in_the_calling_thread_only():
    """libgomp keeps OpenMP's maximum per thread: a limit set in one thread does not reach
    steps taken in another (the optimizers' num_threads documents it)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        worker = threading.Thread(target=lambda: seen.append(_kernels.resolve_threads(None)))
        worker.start()
        worker.join()
        assert _kernels.resolve_threads(None) == 1
    assert seen == [_kernels.resolve_threads(None)]
