"""fastopt.distributed.minimize on a real Dask LocalCluster (2 worker processes).

Each distributed step is a round trip through the scheduler (~5-40 ms here), so the runs are
short: equality with fastopt.minimize is checked on a few dozen steps, convergence with
local SGD, whose rounds hold many steps.
"""

import os
import signal
import sys
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
import cloudpickle  # noqa: E402  (a dask dependency)
import scipy.sparse as sp  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastopt  # noqa: E402
import fastopt.distributed as fd  # noqa: E402

# the workers cannot import this test module: ship its functions by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def log_loss(x, X, y):
    """Mean logistic loss of the logits X x and its gradient (X dense or CSR)."""
    z = X @ x
    p = 0.5 * (1 + np.tanh(z / 2))
    return np.mean(np.logaddexp(0, z) - y * z), X.T @ (p - y) / len(y)


@pytest.fixture(scope="module")
def cancer():
    """Standardized breast-cancer data with a ones column (rows in a fixed random order, so
    that chunks are alike), the l1 strengths (bias unpenalized, lam = 1 / (0.1 n), as in
    test_sparse_models) and the optimum of mean log-loss + l1."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    n, d = X.shape
    perm = np.random.default_rng(0).permutation(n)
    Xb = np.hstack([X, np.ones((n, 1))])[perm]
    y = y.astype(np.float64)[perm]
    l1 = np.r_[np.full(d, 1 / (0.1 * n)), 0.0]
    star = fastopt.minimize(log_loss, np.zeros(d + 1), args=(Xb, y), jac=True,
                            method="adagrad", options={"learning_rate": 1.0, "l1": l1,
                                                       "maxiter": 20000, "gtol": 1e-9})
    assert star.status == 0
    return Xb, y, l1, star


def chunked(Xb, y, rows):
    return da.from_array(Xb, chunks=(rows, -1)), da.from_array(y, chunks=rows)


def objective(x, Xb, y, l1):
    return log_loss(x, Xb, y)[0] + l1 @ np.abs(x)


def recorder():
    seen = []

    def callback(intermediate_result):
        r = intermediate_result
        seen.append((r.x.copy(), r.fun, r.jac.copy(), r.nit, r.learning_rate))
    return seen, callback


def assert_same_run(res, ref, atol=1e-12):
    np.testing.assert_allclose(res.x, ref.x, rtol=0, atol=atol)
    assert res.fun == pytest.approx(ref.fun, rel=0, abs=atol)
    assert (res.nit, res.nfev, res.njev, res.status, res.message) == \
        (ref.nit, ref.nfev, ref.njev, ref.status, ref.message)


# ---------------------------------------------------------------------------- sync
def test_one_chunk_minibatches_are_minimize(client, cancer):
    """One chunk: the same batches, in the same order, as fastopt.minimize (chunk 0 draws
    from default_rng(seed)); results, callbacks and opt_state agree."""
    Xb, y, l1, _ = cancer
    x0 = np.zeros(Xb.shape[1])
    opts = {"learning_rate": fastopt.PowerDecay(0.05, 20), "l1": l1, "batch_size": 64,
            "epochs": 2, "seed": 0}
    seen_ref, cb_ref = recorder()
    ref = fastopt.minimize(log_loss, x0, args=(Xb, y), jac=True, callback=cb_ref,
                           options=opts)
    seen, cb = recorder()
    res = fd.minimize(log_loss, x0, jac=True, args=chunked(Xb, y, len(y)), callback=cb,
                      options=opts)
    assert_same_run(res, ref)
    assert res.nepochs == ref.nepochs == 2 and res.nchunks == 1
    assert res.nnz == ref.nnz and res.sparsity == ref.sparsity
    assert len(seen) == len(seen_ref) == res.nit
    for (x, f, g, nit, lr), (x_r, f_r, g_r, nit_r, lr_r) in zip(seen, seen_ref):
        np.testing.assert_allclose(x, x_r, rtol=0, atol=1e-12)
        np.testing.assert_allclose(g, g_r, rtol=0, atol=1e-12)
        assert (nit, lr) == (nit_r, lr_r) and f == pytest.approx(f_r, abs=1e-12)
    assert res.opt_state["step"] == ref.opt_state["step"]
    for k, v in ref.opt_state["state"][0].items():
        np.testing.assert_allclose(res.opt_state["state"][0][k], v, rtol=0, atol=1e-12)
    # communication: x once per task (one worker), one gradient + 3 scalars per chunk;
    # a task per step and per evaluation of the polish (full batch, on the workers)
    # the polish's full-batch gradients are sums on the workers (their BLAS may split them
    # otherwise than the driver's): its stationarity agrees to rounding, not bit for bit
    assert res.polish["success"] and res.polish == {
        **ref.polish, "stationarity": pytest.approx(ref.polish["stationarity"], rel=1e-9)}
    tasks = res.nit + res.polish["nfev"]
    assert res.comm["bytes_sent"] == tasks * x0.nbytes
    assert res.comm["bytes_received"] == tasks * (x0.nbytes + 5 * 8)
    # without shuffling: consecutive slices, as minimize takes them
    opts.update(shuffle=False, epochs=1, learning_rate=0.05)
    ref = fastopt.minimize(log_loss, x0, args=(Xb, y), jac=True, options=opts)
    res = fd.minimize(log_loss, x0, jac=True, args=chunked(Xb, y, len(y)), options=opts)
    assert_same_run(res, ref)


def test_sync_is_reproducible_with_a_seed(client, cancer):
    """Four chunks on two workers: two runs with a seed agree (the same batches, combined in
    chunk order; to 1e-12, not bit for bit: a chunk's BLAS reductions may round their last
    bit differently on another worker process), and batches are split across chunks in
    proportion to their rows."""
    Xb, y, l1, star = cancer
    x0 = np.zeros(Xb.shape[1])
    X, Y = chunked(Xb, y, 150)
    opts = {"learning_rate": 0.03, "l1": l1, "batch_size": 64, "epochs": 1, "seed": 7}
    a = fd.minimize(log_loss, x0, jac=True, args=(X, Y), method="nadam", options=opts)
    b = fd.minimize(log_loss, x0, jac=True, args=(X, Y), method="nadam", options=opts)
    np.testing.assert_allclose(a.x, b.x, rtol=0, atol=1e-12)
    assert a.fun == pytest.approx(b.fun, rel=1e-12)
    assert a.nit == b.nit == 569 // 64 and a.status == 0
    assert (a.nchunks, a.nworkers) == (4, 2)
    assert a.comm["bytes_received"] >= a.nit * 4 * x0.nbytes     # a gradient per chunk
    c = fd.minimize(log_loss, x0, jac=True, args=(X, Y), method="nadam",
                    options={**opts, "seed": 8, "pruning": fastopt.ConstantSparsity(0.5, 0)})
    assert not np.array_equal(a.x, c.x)
    assert objective(a.x, Xb, y, l1) < 2 * star.fun
    assert c.nnz == np.count_nonzero(c.x) <= round(0.5 * len(x0))     # pruning


def test_full_batch_is_minimize(client, cancer):
    """Full batch over 3 chunks: the row-weighted chunk means are minimize's mean to
    rounding, so the iterates agree to 1e-12, and gtol stops at the same iteration (here
    resuming a single-machine run through opt_state)."""
    Xb, y, l1, _ = cancer
    x0 = np.zeros(Xb.shape[1])
    X, Y = chunked(Xb, y, 200)
    opts = {"learning_rate": 0.1, "l1": l1, "maxiter": 25, "gtol": 0}
    ref = fastopt.minimize(log_loss, x0, args=(Xb, y), jac=True, options=opts)
    res = fd.minimize(log_loss, x0, jac=True, args=(X, Y), options=opts)
    assert_same_run(res, ref)
    np.testing.assert_allclose(res.jac, ref.jac, rtol=0, atol=1e-12)
    assert res.status == 1 and res.nchunks == 3

    L = np.linalg.norm(Xb, 2) ** 2 / (4 * len(y))
    nesterov = {"learning_rate": 1 / L, "l1": l1}
    warm = fastopt.minimize(log_loss, x0, args=(Xb, y), jac=True, method="nesterov",
                            options={**nesterov, "maxiter": 2000, "gtol": 0})
    opts = {**nesterov, "gtol": 4.2e-8, "opt_state": warm.opt_state}
    ref = fastopt.minimize(log_loss, warm.x, args=(Xb, y), jac=True, method="nesterov",
                           options=opts)
    res = fd.minimize(log_loss, warm.x, jac=True, args=(X, Y), method="nesterov", options=opts)
    assert ref.status == 0 and 10 < ref.nit < 50
    assert_same_run(res, ref)
    zeros = res.x[res.x == 0]
    assert res.nnz == ref.nnz == 9 and not np.signbit(zeros).any()       # exact +0.0


def test_csr_chunks_and_float32(client, cancer):
    """Chunks that are scipy.sparse CSR matrices give the dense chunks' run; float32 x0
    stays float32."""
    Xb, y, l1, _ = cancer
    x0 = np.zeros(Xb.shape[1])
    X, Y = chunked(Xb, y, 300)
    Xs = X.map_blocks(sp.csr_matrix, dtype=Xb.dtype)
    # (no polish: its stationarity test stops float32 and float64 at different points)
    opts = {"learning_rate": 0.05, "l1": l1, "batch_size": 100, "epochs": 1, "seed": 1,
            "polish": False}
    dense = fd.minimize(log_loss, x0, jac=True, args=(X, Y), options=opts)
    sparse = fd.minimize(log_loss, x0, jac=True, args=(Xs, Y), options=opts)
    np.testing.assert_allclose(sparse.x, dense.x, rtol=0, atol=1e-12)
    single = fd.minimize(log_loss, x0.astype(np.float32), jac=True, args=(Xs, Y), options=opts)
    assert single.x.dtype == np.float32 and single.jac.dtype == np.float32
    np.testing.assert_allclose(single.x, dense.x, atol=1e-4)


def test_finite_differences_on_the_workers(client, cancer):
    """jac='2-point': each chunk differences its own mean; nfev counts d + 1 per step."""
    Xb, y, _, _ = cancer
    x0 = np.zeros(Xb.shape[1])

    def loss(x, X, y):
        return log_loss(x, X, y)[0]

    opts = {"learning_rate": 0.1, "maxiter": 3, "gtol": 0}
    ref = fastopt.minimize(loss, x0, args=(Xb, y), jac="2-point", options=opts)
    res = fd.minimize(loss, x0, args=chunked(Xb, y, 300), jac="2-point", options=opts)
    np.testing.assert_allclose(res.x, ref.x, rtol=0, atol=1e-6)
    assert (res.nfev, res.njev, res.nit) == (ref.nfev, ref.njev, 3) == (4 * len(x0) + 4, 4, 3)


@pytest.mark.parametrize("jac", ["2-point", "3-point"])
def test_finite_differences_on_the_workers_stay_in_the_box(client, cancer, jac):
    """With bounds, the workers' differences step into the box as fastopt.minimize's do:
    fun is NaN outside it, and x0 sits on its upper bound (the optimum is inside: the
    penalty's slope pushes into the box there, so x0 is not stationary)."""
    Xb, y, _, _ = cancer
    x0, bounds = np.zeros(Xb.shape[1]), [(-1, 0)] * Xb.shape[1]

    def loss(x, X, y):
        with np.errstate(invalid="ignore"):
            return log_loss(x, X, y)[0] + np.sum((np.sqrt(-x) - 0.5) ** 2)

    opts = {"learning_rate": 0.1, "maxiter": 3, "gtol": 0}
    ref = fastopt.minimize(loss, x0, args=(Xb, y), jac=jac, bounds=bounds, options=opts)
    res = fd.minimize(loss, x0, args=chunked(Xb, y, 300), jac=jac, bounds=bounds, options=opts)
    assert ref.status == res.status == 1
    np.testing.assert_allclose(res.x, ref.x, rtol=0, atol=1e-6)
    assert (res.nfev, res.njev) == (ref.nfev, ref.njev)
    local = fd.minimize(loss, x0, args=chunked(Xb, y, 300), jac=jac, bounds=bounds,
                        strategy="local", sync_every=2, options=opts)
    assert local.status == 1 and np.isfinite(local.fun)


def test_errors_from_fun_are_raised_and_options_checked(client, cancer):
    Xb, y, l1, _ = cancer
    X, Y = chunked(Xb, y, 300)
    x0 = np.zeros(Xb.shape[1])

    def broken(x, X, y):
        raise ArithmeticError("bad fun")

    with pytest.raises(ArithmeticError, match="bad fun"):
        fd.minimize(broken, x0, jac=True, args=(X, Y), options={"maxiter": 3})
    with pytest.raises(ValueError, match="Invalid strategy"):
        fd.minimize(log_loss, x0, jac=True, args=(X, Y), strategy="async")
    with pytest.raises(ValueError, match="Invalid sync_every"):
        fd.minimize(log_loss, x0, jac=True, args=(X, Y), strategy="local", sync_every=0)
    with pytest.raises(ValueError, match="needs the data as dask arrays"):
        fd.minimize(log_loss, x0, jac=True, args=(Xb, y))
    with pytest.raises(ValueError, match="different numbers of rows"):
        fd.minimize(log_loss, x0, jac=True, args=(X, Y[:100]))
    with pytest.raises(ValueError, match="pruning needs one mask"):
        fd.minimize(log_loss, x0, jac=True, args=(X, Y), strategy="local",
                    options={"pruning": fastopt.ConstantSparsity(0.5, 0)})
    with pytest.raises(ValueError, match="Invalid batch_size"):
        fd.minimize(log_loss, x0, jac=True, args=(X, Y), options={"batch_size": 0})


def test_client_none_uses_the_current_client_or_starts_a_cluster(client, monkeypatch):
    assert fd._get_client(None) == (client, False)
    started = {}

    class FakeCluster:
        def __init__(self, **kwargs):
            started.update(kwargs)

    def no_client():
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed, "get_client", no_client)
    monkeypatch.setattr(distributed, "LocalCluster", FakeCluster)
    monkeypatch.setattr(distributed, "Client", lambda cluster, **kw: ("client of", cluster))
    (_, cluster), owned = fd._get_client(None)
    assert owned and isinstance(cluster, FakeCluster)
    assert started["processes"] is True and started["n_workers"] == os.cpu_count()


# ---------------------------------------------------------------------------- local SGD
RULES = [(fastopt.SGD, {}), (fastopt.SGD, {"momentum": 0.9}),
         (fastopt.SGD, {"momentum": 0.8, "nesterov": True}), (fastopt.Adagrad, {}),
         (fastopt.Adagrad, {"lr_decay": 0.1}), (fastopt.RMSprop, {}),
         (fastopt.RMSprop, {"centered": True}), (fastopt.RMSprop, {"momentum": 0.5}),
         (fastopt.RMSprop, {"centered": True, "momentum": 0.5}), (fastopt.Adam, {}),
         (fastopt.Adam, {"amsgrad": True}), (fastopt.Adamax, {}), (fastopt.Nadam, {})]


@pytest.mark.parametrize("convention", ["torch", "keras"])
@pytest.mark.parametrize("cls, hyper", RULES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_prox_rate_is_the_kernels_threshold(cls, hyper, convention, dtype):
    """l1 * _prox_rate(opt) after a step is the threshold the fused l1 step of that step
    subtracts: read off two optimizers in the same state, one with l1 and one without, from
    the same x (far from 0, so no coordinate reaches it)."""
    if convention == "keras":                    # without torch's lr_decay, which Keras lacks
        hyper = {k: v for k, v in hyper.items() if k not in cls.torch_only}
    rng = np.random.default_rng(0)
    x = rng.choice([-1, 1], 7) * rng.uniform(2, 3, 7)
    l1 = rng.uniform(1e-3, 1e-2, 7).astype(dtype)
    lr = fastopt.PowerDecay(0.02, 3)
    smooth = cls(x.astype(dtype), learning_rate=lr, convention=convention, **hyper)
    prox = cls(x.astype(dtype), learning_rate=lr, convention=convention, l1=l1, **hyper)
    for g in rng.standard_normal((4, 7)).astype(dtype):
        np.copyto(prox.params[0], smooth.params[0])
        smooth.step(g)
        prox.step(g)
    u, p = smooth.params[0].astype(np.float64), prox.params[0].astype(np.float64)
    assert np.all(np.sign(u) == np.sign(p))
    rate = fd._prox_rate(smooth)
    assert np.ndim(rate) == (0 if cls is fastopt.SGD else 1)
    # |u| - |p| is exact to the rounding of numbers below 3
    np.testing.assert_allclose(np.abs(u) - np.abs(p), l1 * rate, rtol=1e-6,
                               atol=12 * np.finfo(dtype).eps)


def test_local_sgd_with_one_chunk_is_minimize(client, cancer):
    """One replica never averages with anyone: without l1 (with l1, see the next tests),
    local SGD with one chunk is minimize's run, whatever sync_every (the replica's optimizer
    persists on its worker across rounds; a ReduceLROnPlateau fed on the driver reaches it
    each round).  The losses pass through NumPy's reductions and BLAS in two processes:
    equal to rounding."""
    Xb, y, _, _ = cancer
    x0 = np.zeros(Xb.shape[1])

    def opts():
        return {"learning_rate": fastopt.ReduceLROnPlateau(0.05, patience=0, factor=0.5,
                                                          min_delta=0.5),
                "batch_size": 64, "epochs": 3, "seed": 3}
    ref = fastopt.minimize(log_loss, x0, args=(Xb, y), jac=True, options=opts())
    res = fd.minimize(log_loss, x0, jac=True, args=chunked(Xb, y, len(y)), strategy="local",
                      sync_every=4, options=opts())
    np.testing.assert_allclose(res.x, ref.x, rtol=0, atol=1e-12)
    assert res.fun == pytest.approx(ref.fun, abs=1e-12)
    assert (res.nit, res.nepochs, res.status) == (ref.nit, 3, 0)
    schedule, ref_schedule = res.opt_state["schedule"], ref.opt_state["schedule"]
    assert schedule["best"] == pytest.approx(ref_schedule["best"], abs=1e-12)
    assert {**schedule, "best": 0} == {**ref_schedule, "best": 0}
    assert schedule["num_reductions"] >= 1
    for k, v in ref.opt_state["state"][0].items():
        np.testing.assert_allclose(res.opt_state["state"][0][k], v, rtol=0, atol=1e-12)


def test_local_sgd_sums_the_epoch_loss_as_minimize(client, cancer):
    """The epoch-mean loss is minimize's sum of f * rows over the epoch's steps, in step
    order, not one partial sum per round: with one chunk it is minimize's bit for bit (and
    so is ReduceLROnPlateau's state) when f is.  fun here is element-wise arithmetic (no
    reduction, no BLAS), so its values are the same in every process on every CPU."""
    Xb, y, _, _ = cancer
    x0 = np.zeros(Xb.shape[1])

    def first_row(x, X, y):
        return float(x[0] * X[0, 1] + X[0, 2] + y[0]), 0.01 * X[0]

    def opts():
        return {"learning_rate": fastopt.ReduceLROnPlateau(0.05, patience=0, factor=0.5),
                "batch_size": 32, "epochs": 4, "seed": 0}
    ref = fastopt.minimize(first_row, x0, args=(Xb, y), jac=True, options=opts())
    res = fd.minimize(first_row, x0, jac=True, args=chunked(Xb, y, len(y)), strategy="local",
                      sync_every=2, options=opts())
    np.testing.assert_array_equal(res.x, ref.x)
    assert res.fun == ref.fun
    assert res.opt_state["schedule"] == ref.opt_state["schedule"]


def test_local_sgd_with_one_step_per_round_is_minimize_with_l1_and_bounds(client, cancer):
    """One chunk and sync_every=1: the replica's smooth step, then the driver's l1 step
    with the replica's threshold and the projection, is minimize's fused step (to
    rounding), on a box that binds (x[0]'s excludes 0: the l1 step takes it below, the
    projection back)."""
    Xb, y, l1, _ = cancer
    x0 = np.zeros(Xb.shape[1])
    opts = {"learning_rate": 0.05, "l1": l1, "maxiter": 30, "gtol": 0}
    bounds = [(0.05, 1.0)] + [(-0.3, 0.3)] * (len(x0) - 2) + [(-1.0, 0.52)]
    ref = fastopt.minimize(log_loss, x0, args=(Xb, y), jac=True, bounds=bounds, options=opts)
    res = fd.minimize(log_loss, x0, jac=True, args=chunked(Xb, y, len(y)), bounds=bounds,
                      strategy="local", sync_every=1, options=opts)
    assert_same_run(res, ref)
    assert 0 < res.nnz == ref.nnz < len(x0) and np.array_equal(res.x == 0, ref.x == 0)
    assert (res.x[0], res.x[-1]) == (0.05, 0.52) and np.sum(res.x == -0.3) >= 2


def test_local_sgd_with_one_chunk_has_the_l1_optimum_as_fixed_point(client, cancer):
    """One replica, 100 steps per round at a constant learning rate: the l1 steps taken
    lazily within a round do not move the fixed point, which is the optimum (as close as
    minimize's own run of the same steps)."""
    Xb, y, l1, star = cancer
    x0 = np.zeros(Xb.shape[1])
    L = np.linalg.norm(Xb, 2) ** 2 / (4 * len(y))
    opts = {"learning_rate": 1 / L, "l1": l1, "maxiter": 1500, "gtol": 0}
    res = fd.minimize(log_loss, x0, jac=True, args=chunked(Xb, y, len(y)), method="nesterov",
                      strategy="local", sync_every=100, options=opts)
    assert res.nit == 1500 and res.comm["tasks"] == 15 + 1
    assert (objective(res.x, Xb, y, l1) - star.fun) / star.fun <= 1e-7
    np.testing.assert_array_equal(res.x == 0, star.x == 0)


def test_local_sgd_with_minibatches_keeps_exact_zeros(client, cancer):
    """Minibatch local SGD on two chunks, l1: as sparse as the optimum give or take a few
    coordinates, never zero where the optimum is not, and closer to it than replicas that
    threshold their own steps (31 nonzeros, gap 2.3e-2) get."""
    Xb, y, l1, star = cancer
    x0 = np.zeros(Xb.shape[1])
    res = fd.minimize(log_loss, x0, jac=True, args=chunked(Xb, y, 285), method="adagrad",
                      strategy="local", sync_every=9,
                      options={"learning_rate": 0.5, "l1": l1, "batch_size": 64,
                               "epochs": 20, "seed": 0})
    assert res.nit == 20 * (len(y) // 64) and res.comm["tasks"] == 20 * res.nworkers
    assert res.nnz <= 2 * star.nnz and np.all(star.x[res.x == 0] == 0)
    assert (objective(res.x, Xb, y, l1) - star.fun) / star.fun <= 1.5e-2


def test_local_sgd_reaches_the_optimum_with_exact_zeros(client, cancer):
    """Two replicas, 50 local full-batch steps per round, a decaying learning rate: the
    support of the optimum (exact zeros, +0.0) and its objective within 1e-4 relative.
    (Averaging replicas that threshold their own steps would lose the zeros and stay
    about 1e-3 off.)"""
    Xb, y, l1, star = cancer
    x0 = np.zeros(Xb.shape[1])
    L = np.linalg.norm(Xb, 2) ** 2 / (4 * len(y))
    lr = fastopt.PiecewiseConstant([1200, 2100], [1 / L, 0.1 / L, 0.01 / L])
    seen, cb = recorder()
    res = fd.minimize(log_loss, x0, jac=True, args=chunked(Xb, y, 285), method="nesterov",
                      strategy="local", sync_every=50, callback=cb,
                      options={"learning_rate": lr, "l1": l1, "maxiter": 3000, "gtol": 0})
    assert res.status == 1 and res.nit == 3000 and len(seen) == 60
    assert res.comm["tasks"] == res.nworkers * (60 + 1)    # 60 rounds + the final evaluation
    gap = (objective(res.x, Xb, y, l1) - star.fun) / star.fun
    assert 0 <= gap <= 1e-4
    assert res.fun == pytest.approx(objective(res.x, Xb, y, l1), rel=1e-12)
    np.testing.assert_array_equal(res.x == 0, star.x == 0)
    assert not np.signbit(res.x[res.x == 0]).any()
    assert res.opt_state["step"] == 3000 and res.replica_restarts == 0


# ---------------------------------------------------------------------------- failures
def worker_pids(client):
    return client.run(os.getpid)


def test_killed_worker_mid_run_gives_the_same_result(client, cancer):
    """SIGKILL one worker process after 5 steps: Dask reruns its tasks and recomputes its
    chunks (and their epoch permutations) from their lineage; the run goes on and returns
    exactly the undisturbed run's x."""
    Xb, y, l1, _ = cancer
    x0 = np.zeros(Xb.shape[1])
    X, Y = chunked(Xb, y, 150)
    opts = {"learning_rate": 0.03, "l1": l1, "batch_size": 64, "epochs": 2, "seed": 5}
    ref = fd.minimize(log_loss, x0, jac=True, args=(X, Y), options=opts)
    pids = sorted(worker_pids(client).values())
    killed = []

    def kill_after_5(xk):
        if not killed and kill_after_5.calls == 5:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
        kill_after_5.calls += 1
    kill_after_5.calls = 0

    res = fd.minimize(log_loss, x0, jac=True, args=(X, Y), callback=kill_after_5, options=opts)
    assert killed
    assert res.status == 0 and np.isfinite(res.x).all()
    np.testing.assert_allclose(res.x, ref.x, rtol=0, atol=1e-12)
    assert res.nit == ref.nit
    client.wait_for_workers(2, timeout=60)                 # the nanny restarts it


# A step's timeout in the failure tests: long enough that an ordinary step on a loaded
# machine (a CI runner with the whole suite beside it) never reaches it.
STEP_TIMEOUT = 2.0


def stalls_once(flag):
    """log_loss, but hanging while the file ``flag`` exists (at most a minute): a step made
    then outlasts any timeout, and ends as soon as the test removes the file."""
    def stalling(x, X, y):
        deadline = time.monotonic() + 60.0
        while os.path.exists(flag) and time.monotonic() < deadline:
            time.sleep(0.02)
        return log_loss(x, X, y)
    return stalling


def release(flag):
    """End the stalled tasks; the file must exist, else the run failed before the stall."""
    started = os.path.exists(flag)
    if started:
        os.remove(flag)
        time.sleep(0.2)                                   # let the stalled tasks return
    assert started, "the run ended before the callback started the stall"


def test_unrecoverable_failure_returns_the_last_good_point(client, cancer, tmp_path):
    """Steps that time out, also when resubmitted, end the run with status 8 and the last
    point whose objective was evaluated (the last one the callback saw, in full batch)."""
    Xb, y, l1, _ = cancer
    x0 = np.zeros(Xb.shape[1])
    X, Y = chunked(Xb, y, 300)
    flag = str(tmp_path / "stall")
    stalling = stalls_once(flag)
    xs = []

    def cb(xk):
        xs.append(xk.copy())
        if len(xs) == 4:
            open(flag, "w").close()

    res = fd.minimize(stalling, x0, jac=True, args=(X, Y), callback=cb, timeout=STEP_TIMEOUT,
                      retries=1, options={"learning_rate": 0.05, "maxiter": 20, "gtol": 0})
    release(flag)
    assert res.status == 8 and not res.success
    assert res.message.startswith(fastopt._loop.Status.TASK_FAILED.message)
    assert "TimeoutError" in res.message
    assert res.comm["retries"] >= 2 and len(xs) == 4       # >: a slow step may be retried
    np.testing.assert_array_equal(res.x, xs[-1])           # f and g were evaluated there
    assert np.isfinite(res.fun)


@pytest.mark.parametrize("minibatch", [False, True], ids=["full-batch", "minibatch"])
def test_resume_after_a_task_failure_equals_the_uninterrupted_run(client, cancer, tmp_path,
                                                                 minibatch):
    """Status 8 returns the last good point with its own nit and optimizer state (and,
    with minibatches, the loop's position): resuming from the result repeats the run that
    did not fail.  Four chunks, combined in chunk order both times; a chunk's loss and
    gradient pass through NumPy's and BLAS's reductions on whichever worker holds it, and
    another worker process (another alignment of the chunk) may round their last bit
    differently, so the runs agree to 1e-12 rather than bit for bit."""
    Xb, y, l1, _ = cancer
    x0 = np.zeros(Xb.shape[1])
    X, Y = chunked(Xb, y, 150)
    flag = str(tmp_path / "stall")
    stalling = stalls_once(flag)
    calls = []

    def cb(xk):
        calls.append(1)
        if len(calls) == 6:
            open(flag, "w").close()

    opts = {"learning_rate": 0.05, "maxiter": 14, "gtol": 0, "l1": l1}
    if minibatch:
        # 8 steps an epoch; no polish: a stopping test on the full batch, it may stop the
        # runs from points 1e-12 apart a step apart
        opts.update(batch_size=64, epochs=3, seed=5, maxiter=None, polish=False)
    whole = fd.minimize(log_loss, x0, jac=True, args=(X, Y), method="nadam", options=opts)
    failed = fd.minimize(stalling, x0, jac=True, args=(X, Y), method="nadam", callback=cb,
                         timeout=STEP_TIMEOUT, retries=0, options=opts)
    release(flag)
    assert failed.status == 8 and 0 < failed.nit < whole.nit
    assert failed.opt_state["step"] == failed.nit
    rest = {"maxiter": opts["maxiter"] - failed.nit} if not minibatch else {
        "epochs": opts["epochs"] - failed.nepochs}
    resumed = fd.minimize(log_loss, failed.x, jac=True, args=(X, Y), method="nadam",
                          options={**opts, **rest, "opt_state": failed.opt_state})
    assert resumed.status == 0 if minibatch else resumed.status == 1
    assert failed.nit + resumed.nit == whole.nit
    np.testing.assert_allclose(resumed.x, whole.x, rtol=0, atol=1e-12)
    for a, b in zip(resumed.opt_state["state"][0].values(),
                    whole.opt_state["state"][0].values()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert resumed.opt_state["mu_product"] == whole.opt_state["mu_product"]


def test_optimum_on_an_active_bound_is_a_success(client, cancer):
    """gtol tests the projected gradient here too: a box that holds the unconstrained
    optimum's far side ends on its bound with status 0."""
    Xb, y, _, _ = cancer
    x0 = np.zeros(Xb.shape[1])
    bounds = [(-0.05, 0.05)] * Xb.shape[1]
    opts = {"learning_rate": 0.5, "gtol": 1e-6, "maxiter": 3000}
    res = fd.minimize(log_loss, x0, jac=True, args=chunked(Xb, y, 300), method="nesterov",
                      bounds=bounds, options=opts)
    ref = fastopt.minimize(log_loss, x0, jac=True, args=(Xb, y), method="nesterov",
                           bounds=bounds, options=opts)
    assert res.status == ref.status == 0 and res.nit == ref.nit < 3000
    assert np.any(np.abs(res.x) == 0.05)
    assert np.abs(res.jac[np.abs(res.x) == 0.05]).min() > 1e-3       # the raw gradient


def test_local_sgd_survives_a_killed_worker(client, cancer):
    """Local SGD: the replicas of a killed worker are rebuilt where their chunks are
    recomputed, from the averaged parameters; the run ends normally with a sensible x."""
    Xb, y, l1, star = cancer
    x0 = np.zeros(Xb.shape[1])
    client.wait_for_workers(2, timeout=60)
    pids = sorted(worker_pids(client).values())
    rounds = []

    def kill_after_2(xk):
        rounds.append(xk.copy())
        if len(rounds) == 2:
            os.kill(pids[-1], signal.SIGKILL)

    res = fd.minimize(log_loss, x0, jac=True, args=chunked(Xb, y, 285), method="adam",
                      strategy="local", sync_every=50, callback=kill_after_2,
                      options={"learning_rate": 0.05, "l1": l1, "maxiter": 400, "gtol": 0})
    assert res.status == 1 and res.nit == 400 and np.isfinite(res.x).all()
    assert res.replica_restarts >= 1
    assert objective(res.x, Xb, y, l1) < 1.05 * star.fun
