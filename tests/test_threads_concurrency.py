"""Optimizers used from several Python threads at once, each on its own arrays.

The kernels release the GIL while they run (steps of 2048 elements or more; smaller ones
keep it, finishing sooner than releasing it takes; arrays from the parallel threshold up open
their own OpenMP team inside), so two optimizers stepping in two threads really run at the
same time.
Each must give bit for bit what it gives alone: nothing is shared between optimizer objects
but read-only constants.  (Sharing one optimizer between threads is not supported.)
"""

import threading

import numpy as np
import pytest
from conftest import CLASSES, make_problem

import fastopt
from fastopt import _kernels

STEPS = 20
N_LARGE = _kernels.PARALLEL_THRESHOLD + 4099      # an OpenMP team per kernel call
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
