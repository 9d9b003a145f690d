"""What an outside probe of the process found: interrupts in the middle of a step, thread
counts the OS cannot give, OpenMP limits seen from other threads, and optimizers over
thousands of arrays.  (Refusals are rows of tests/test_bad_input.py; concurrent use of one
optimizer is in tests/test_threads_concurrency.py.)"""

import _thread
import gc
import signal
import threading
import time

import numpy as np
import pytest

import fastopt
from fastopt import _dispatch


@pytest.fixture
def ctrl_c():
    """SIGINT raises KeyboardInterrupt during the test (Python's default handler)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


class InterruptAfterKernels:
    """Stands in for an optimizer's kernel plan: runs the real one, then has Python raise
    KeyboardInterrupt at once, as a Ctrl-C that arrives while the kernels run (without the
    GIL) is raised when their call returns."""

    def __init__(self, plan):
        self.plan = plan

    def __getattr__(self, name):
        return getattr(self.plan, name)

    def step(self, *args):
        bad = self.plan.step(*args)
        _thread.interrupt_main()
        return bad


def assert_same_point(opt, twin):
    """Same parameters, state and counters, bit for bit."""
    for p, q in zip(opt.params, twin.params):
        np.testing.assert_array_equal(p, q)
    sd, td = opt.state_dict(), twin.state_dict()
    assert sd["step"] == td["step"]
    assert sd.get("mu_product") == td.get("mu_product")
    for st, tt in zip(sd["state"], td["state"]):
        for k in st:
            np.testing.assert_array_equal(st[k], tt[k])


@pytest.mark.parametrize("cls", [fastopt.Adam, fastopt.Nadam])
def test_an_interrupt_after_the_kernels_finds_the_counters_advanced(cls, ctrl_c):
    """step_count (and Nadam's product of momenta) advance in the kernels' call: an interrupt
    raised as it returns leaves a checkpoint whose counters match its arrays, and the
    optimizer goes on as if uninterrupted."""
    g = np.cos(np.arange(5000.0))
    opt, twin = cls(np.zeros(5000)), cls(np.zeros(5000))
    opt.step(g)
    twin.step(g)
    opt._plan = InterruptAfterKernels(opt._plan)
    with pytest.raises(KeyboardInterrupt):
        opt.step(g)
    twin.step(g)
    assert opt.step_count == 2
    assert_same_point(opt, twin)
    opt._plan = opt._plan.plan
    opt.step(g)                                     # not left marked as running
    twin.step(g)
    assert_same_point(opt, twin)


def test_ctrl_c_at_any_moment_of_large_steps_keeps_counters_with_the_arrays(ctrl_c):
    """Real interrupts, from another thread at spread-out moments of a run of threaded
    steps (the kernels' time dominates): wherever one lands, the optimizer holds the point
    of a whole number of steps, the one an uninterrupted run reaches in step_count steps."""
    n = 4 * _dispatch.PARALLEL_THRESHOLD
    g = np.sin(np.arange(n, dtype=np.float64))
    for delay in np.linspace(0.0, 0.02, 8):
        opt = fastopt.Nadam(np.zeros(n), num_threads=2)
        interrupter = threading.Thread(target=lambda d=delay: (time.sleep(d),
                                                               _thread.interrupt_main()))
        try:
            interrupter.start()
            while True:
                opt.step(g)
        except KeyboardInterrupt:
            pass
        interrupter.join()
        twin = fastopt.Nadam(np.zeros(n), num_threads=2)
        for _ in range(opt.step_count):
            twin.step(g)
        assert_same_point(opt, twin)


def test_building_over_many_arrays_takes_linear_time():
    """Twenty times the arrays take about twenty times as long to set up, not four hundred
    (a pairwise memory check did: 3000 arrays took 1.6 s).  CPU time of this thread, best
    of three, without the garbage collector: another process's load does not count."""
    def build_time(n):
        params = [np.zeros(2) for _ in range(n)]
        best = np.inf
        gc.disable()
        try:
            for _ in range(3):
                start = time.thread_time()
                fastopt.SGD(params)
                best = min(best, time.thread_time() - start)
        finally:
            gc.enable()
        return best

    ratio = build_time(6000) / build_time(300)
    assert ratio < 80, ratio


openmp_only = pytest.mark.skipif(not fastopt.openmp_enabled(), reason="serial build")


@openmp_only
def test_an_openmp_maximum_past_the_cap_is_capped():
    """OpenMP's maximum (OMP_NUM_THREADS, threadpoolctl) is followed up to MAX_THREADS: a
    team of tens of thousands of threads aborts or crashes the process."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    big = 100 * _dispatch.MAX_THREADS
    with threadpoolctl.threadpool_limits(limits=big, user_api="openmp"):
        assert _dispatch.max_threads() == big
        assert _dispatch.resolve_threads(None) == _dispatch.MAX_THREADS
        assert _dispatch.resolve_threads(big) == _dispatch.MAX_THREADS
    assert _dispatch.MAX_THREADS >= 64


@openmp_only
def test_threadpool_limits_holds_in_the_calling_thread_only():
    """libgomp keeps OpenMP's maximum per thread: a limit set in one thread does not reach
    steps taken in another (the optimizers' num_threads documents it)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        worker = threading.Thread(target=lambda: seen.append(_dispatch.resolve_threads(None)))
        worker.start()
        worker.join()
        assert _dispatch.resolve_threads(None) == 1
    assert seen == [_dispatch.resolve_threads(None)]
