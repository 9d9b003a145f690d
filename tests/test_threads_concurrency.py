"""Optimizers used from several Python threads at once, each on its own arrays.

The kernels release the GIL while they run (steps of 2048 elements or more; smaller ones
keep it, finishing sooner than releasing it takes; arrays from the parallel threshold up open
their own OpenMP team inside), so two optimizers stepping in two threads really run at the
same time.
Each must give bit for bit what it gives alone: nothing is shared between optimizer objects
but read-only constants.  One optimizer stepped from two threads at once refuses the second
step with RuntimeError (the end of this file).
"""

import threading

import numpy as np
import pytest
from conftest import CLASSES, make_problem

import fastopt
from fastopt import _dispatch

STEPS = 20
N_LARGE = _dispatch.PARALLEL_THRESHOLD + 4099      # an OpenMP team per kernel call
N_SMALL = 1000                                     # on the calling thread

JOBS = [
    # rule, hyperparameters and options, dtype, size
    ("adam", {"weight_decay": 1e-2, "l1": 1e-3, "clipnorm": 5.0}, np.float64, N_LARGE),
    ("nadam", {"bounds": (-0.5, 0.5)}, np.float32, N_LARGE),
    ("sgd", {"momentum": 0.9, "nesterov": True, "l2": 1e-3}, np.float64, N_LARGE),
    ("rmsprop", {"centered": True, "momentum": 0.5}, np.float32, N_SMALL),
    ("adagrad", {"clipvalue": 0.5}, np.float64, N_SMALL),
    ("adamax", {"convention": "keras"}, np.float32, N_LARGE),
]


def run_job(job, seed, num_threads, barrier=None):
    rule, options, dtype, n = job
    theta, grads = make_problem(n, STEPS, seed, dtype)
    opt = CLASSES[rule](theta, learning_rate=0.01, num_threads=num_threads, **options)
    if barrier is not None:
        barrier.wait()
    for g in grads:
        opt.step(g)
    return theta, opt.state_dict()


def run_in_threads(jobs, num_threads):
    """Run every job in its own thread, all released together; results in job order."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def work(i):
        try:
            results[i] = run_job(jobs[i], i, num_threads, barrier)
        except BaseException as e:      # surfaced in the main thread below
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def assert_same(result, expected):
    (theta, sd), (theta0, sd0) = result, expected
    np.testing.assert_array_equal(theta, theta0)
    assert sd["step"] == sd0["step"]
    for st, st0 in zip(sd["state"], sd0["state"]):
        assert st.keys() == st0.keys()
        for k in st:
            np.testing.assert_array_equal(st[k], st0[k])


@pytest.mark.parametrize("num_threads", [1, 2])
def test_optimizers_in_threads_match_running_alone(num_threads):
    expected = [run_job(job, i, num_threads) for i, job in enumerate(JOBS)]
    for _ in range(2):
        for result, exp in zip(run_in_threads(JOBS, num_threads), expected):
            assert_same(result, exp)


def test_minimize_in_threads_matches_running_alone():
    def quadratic(c):
        return lambda x: (0.5 * float(c @ (x - 1) ** 2), c * (x - 1))

    problems = [np.linspace(1.0, 2.0, n) for n in (5, 300, N_LARGE)]
    methods = ["adam", "nadam", "momentum"]

    def solve(i):
        return fastopt.minimize(quadratic(problems[i]), np.zeros(problems[i].size),
                                method=methods[i], jac=True,
                                options={"learning_rate": 0.05, "maxiter": 30})

    expected = [solve(i) for i in range(len(problems))]
    results = [None] * len(problems)
    barrier = threading.Barrier(len(problems))

    def work(i):
        barrier.wait()
        results[i] = solve(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(problems))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for res, exp in zip(results, expected):
        assert res is not None, "a thread failed (see the warning pytest printed)"
        np.testing.assert_array_equal(res.x, exp.x)
        assert (res.nit, res.status, res.fun) == (exp.nit, exp.status, exp.fun)


def test_stepping_one_optimizer_from_another_thread_mid_step_raises():
    """While a step runs (here held inside its learning-rate schedule, before the kernels),
    a step of the same optimizer from another thread raises RuntimeError and changes
    nothing; the running step then completes, and the optimizer is free again."""
    inside, release = threading.Event(), threading.Event()

    def schedule(step):
        if not inside.is_set():                     # the first call only
            inside.set()
            release.wait(60)
        return 0.5

    x = np.zeros(4)
    opt = fastopt.SGD(x, learning_rate=schedule)
    first = threading.Thread(target=opt.step, args=(np.ones(4),))
    first.start()
    try:
        assert inside.wait(60)
        with pytest.raises(RuntimeError, match=r"already taking a step, in another thread: "
                           r"step an optimizer from one thread at a time"):
            opt.step(np.ones(4))
        assert opt.step_count == 0 and x.tolist() == [0.0] * 4
    finally:
        release.set()
        first.join(60)
    assert opt.step_count == 1 and x.tolist() == [-0.5] * 4
    opt.step(np.ones(4))
    assert opt.step_count == 2 and x.tolist() == [-1.0] * 4


def test_one_optimizer_stepped_from_two_threads_takes_whole_steps_or_refuses():
    """Two threads x 50 steps on one Adam of 300,000 elements (threaded kernels without the
    GIL): each step either raises RuntimeError or is a whole step, so step_count counts the
    steps that ran and every element was updated that many times, as an uninterrupted run
    of that many steps updates it."""
    n = 300_000
    x = np.zeros(n)
    opt = fastopt.Adam(x, learning_rate=0.01, num_threads=2)
    g = np.ones(n)
    barrier = threading.Barrier(2)
    done, refused = [0, 0], [0, 0]

    def work(i):
        barrier.wait()
        for _ in range(50):
            try:
                opt.step(g)
                done[i] += 1
            except RuntimeError:
                refused[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert done[0] + refused[0] == done[1] + refused[1] == 50
    assert opt.step_count == sum(done)
    y = np.zeros(n)
    twin = fastopt.Adam(y, learning_rate=0.01, num_threads=2)
    for _ in range(sum(done)):
        twin.step(g)
    np.testing.assert_array_equal(x, y)
    assert_same((x, opt.state_dict()), (y, twin.state_dict()))
