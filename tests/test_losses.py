"""fastopt._losses.value_and_grad against a NumPy/SciPy oracle written from the formulas:
dense and CSR X (int32 and int64 indices, unsorted indices, empty rows), float32 and
float64, each loss with sample weights and an intercept; results that do not depend on the
number of threads; a finite-difference check of the gradient; numerically stable margins.
(Refusals of bad input are rows of tests/test_bad_input.py.)"""

import doctest

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit, logsumexp

from fastopt import _losses
from fastopt._losses import value_and_grad

LOSSES = ("logistic", "squared", "softmax")
K = 3                                # classes of the softmax problems
RTOL = {np.float64: 1e-12, np.float32: 1e-5}


def oracle(loss, X, y, w, coef, intercept):
    """(sum_i w_i loss_i, its gradient in coef, in the intercept), in float64 from the
    formulas: z = X coef + b; logistic log(1 + e^z) - y z, squared (z - y)^2 / 2, softmax
    logsumexp(z) - z_y; the gradient X.T @ r and sum_i r_i with r_i = w_i dloss_i/dz_i."""
    X = X.astype(np.float64)
    coef, b, w = coef.astype(np.float64), intercept.astype(np.float64), w.astype(np.float64)
    Z = X @ coef + b
    if loss == "logistic":
        y = y.astype(np.float64)
        per_row, R = np.logaddexp(0.0, Z) - y * Z, expit(Z) - y
    elif loss == "squared":
        y = y.astype(np.float64)
        per_row, R = 0.5 * (Z - y) ** 2, Z - y
    else:
        rows = np.arange(len(y))
        lse = logsumexp(Z, axis=1)
        per_row = lse - Z[rows, y]
        R = np.exp(Z - lse[:, None])
        R[rows, y] -= 1.0
    R = R * (w[:, None] if R.ndim == 2 else w)
    return float(w @ per_row), np.asarray(X.T @ R), R.sum(axis=0).reshape(b.shape)


def make_problem(loss, n, d, dtype, seed=0, density=0.3):
    """X dense with about ``density`` nonzeros (rows 1 and n-2 empty), y, weights in
    [0, 2), coef and intercept, all of ``dtype`` (labels int64)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * (rng.random((n, d)) < density)
    X[[1, n - 2]] = 0.0
    w = rng.uniform(0.0, 2.0, n)
    if loss == "softmax":
        coef, b, y = rng.standard_normal((d, K)), rng.standard_normal(K), rng.integers(0, K, n)
    else:
        coef, b = rng.standard_normal(d), rng.standard_normal(1)
        y = (rng.random(n) < 0.5).astype(dtype) if loss == "logistic" else \
            rng.standard_normal(n).astype(dtype)
    return X.astype(dtype), y, w.astype(dtype), coef.astype(dtype), b.astype(dtype)


def csr(X, index_dtype=np.int32, shuffle=False, seed=0):
    """X as a CSR matrix with indices of index_dtype, each row's entries shuffled on request."""
    M = sp.csr_matrix(X)
    data, indices = M.data.copy(), M.indices.astype(index_dtype)
    if shuffle:
        rng = np.random.default_rng(seed)
        for i in range(M.shape[0]):
            lo, hi = M.indptr[i], M.indptr[i + 1]
            order = lo + rng.permutation(hi - lo)
            data[lo:hi], indices[lo:hi] = data[order], indices[order]
    out = sp.csr_matrix((data, indices, M.indptr), shape=M.shape)
    out.indices, out.indptr = indices, M.indptr.astype(index_dtype)    # scipy picks int32
    out.has_sorted_indices = not shuffle
    assert out.indices.dtype == index_dtype and out.indptr.dtype == index_dtype
    return out


LAYOUTS = {
    "dense": lambda X: X,
    "csr-int32": lambda X: csr(X, np.int32),
    "csr-int64": lambda X: csr(X, np.int64),
    "csr-unsorted": lambda X: csr(X, np.int32, shuffle=True),
    "csr_array-int64-unsorted": lambda X: sp.csr_array(csr(X, np.int64, shuffle=True)),
}


def run(loss, X, y, w, coef, b, num_threads=None):
    g, gb = np.full_like(coef, np.nan), np.full_like(b, np.nan)
    value = value_and_grad(loss, X, y, w, coef, b, g, gb, num_threads=num_threads)
    return value, g, gb


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("loss", LOSSES)
def test_matches_the_oracle(loss, layout, dtype):
    X, y, w, coef, b = make_problem(loss, 300, 17, dtype)
    Xl = LAYOUTS[layout](X)
    if layout != "dense":
        assert np.diff(Xl.indptr)[[1, 298]].tolist() == [0, 0]      # empty rows
    value, g, gb = run(loss, Xl, y, w, coef, b)
    v0, g0, gb0 = oracle(loss, X, y, w, coef, b)
    assert isinstance(value, float)
    assert g.dtype == dtype and gb.dtype == dtype
    rtol = RTOL[dtype]
    assert value == pytest.approx(v0, rel=rtol)
    scale = np.abs(g0).max()
    np.testing.assert_allclose(g, g0, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(gb, gb0, rtol=rtol, atol=rtol * np.abs(gb0).max())


# Large enough to be cut into several chunks (work = (entries + rows) * k of several
# 65,536) and to run on threads.
BIG = {"dense": (6000, 60, 1.0), "csr": (20000, 400, 0.05)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", BIG)
@pytest.mark.parametrize("loss", LOSSES)
def test_results_do_not_depend_on_the_number_of_threads(loss, layout, dtype):
    n, d, density = BIG[layout]
    X, y, w, coef, b = make_problem(loss, n, d, dtype, seed=1, density=density)
    if layout == "csr":
        X = csr(X, shuffle=True)
    first = run(loss, X, y, w, coef, b, num_threads=1)
    for threads in (2, 3, 4):
        value, g, gb = run(loss, X, y, w, coef, b, num_threads=threads)
        assert value == first[0], threads
        assert np.array_equal(g, first[1]), threads
        assert np.array_equal(gb, first[2]), threads
    # and the cut into chunks sums to the right numbers
    v0, g0, _ = oracle(loss, X.toarray() if layout == "csr" else X, y, w, coef, b)
    assert first[0] == pytest.approx(v0, rel=RTOL[dtype])
    np.testing.assert_allclose(first[1], g0, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * np.abs(g0).max())


@pytest.mark.parametrize("layout", ["dense", "csr-int64"])
@pytest.mark.parametrize("loss", LOSSES)
def test_gradient_matches_finite_differences(loss, layout):
    X, y, w, coef, b = make_problem(loss, 40, 6, np.float64, seed=2, density=0.6)
    Xl = LAYOUTS[layout](X)
    _, g, gb = run(loss, Xl, y, w, coef, b)
    h = 1e-6
    for params, grad in ((coef, g), (b, gb)):
        flat_p, flat_g = params.reshape(-1), grad.reshape(-1)
        for j in range(flat_p.size):
            keep = flat_p[j]
            flat_p[j] = keep + h
            up = run(loss, Xl, y, w, coef, b)[0]
            flat_p[j] = keep - h
            down = run(loss, Xl, y, w, coef, b)[0]
            flat_p[j] = keep
            assert (up - down) / (2 * h) == pytest.approx(flat_g[j], rel=1e-6, abs=1e-7)


def test_large_margins_stay_finite_and_exact():
    # margins of +-800: exp(800) overflows, log1p(exp(-|z|)) and the row's max do not
    X = np.array([[800.0], [-800.0], [800.0], [-800.0]])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    value, g, gb = run("logistic", X, y, np.ones(4), np.ones(1), np.zeros(1))
    assert value == 1600.0                          # the two wrong rows cost |z| each
    np.testing.assert_array_equal(g, [800.0 + 800.0])
    np.testing.assert_array_equal(gb, [0.0])
    labels = np.array([0, 1, 2, 0])
    coef = np.array([[1.0, 0.0, -1.0]])
    value, g, gb = run("softmax", X, labels, np.ones(4), coef, np.zeros(3))
    assert np.isfinite(value) and np.isfinite(g).all()
    assert value == pytest.approx(oracle("softmax", X, labels, np.ones(4), coef,
                                         np.zeros(3))[0], rel=1e-14)


def test_writes_into_views_of_one_gradient_vector_and_nothing_else():
    X, y, w, coef, b = make_problem("softmax", 50, 4, np.float64)
    flat = np.full(4 * K + K + 1, -7.0)
    grad_coef, grad_b = flat[:4 * K].reshape(4, K), flat[4 * K:4 * K + K]
    value = value_and_grad("softmax", sp.csr_matrix(X), y, w, coef, b, grad_coef, grad_b)
    v0, g0, gb0 = oracle("softmax", X, y, w, coef, b)
    assert value == pytest.approx(v0, rel=1e-12)
    np.testing.assert_allclose(flat[:-1], np.concatenate([g0.ravel(), gb0]), rtol=1e-12)
    assert flat[-1] == -7.0


def test_no_rows_give_zero():
    X, y, w, coef, b = make_problem("logistic", 10, 5, np.float64)
    for Xl in (X[:0], sp.csr_matrix(X[:0])):
        value, g, gb = run("logistic", Xl, y[:0], w[:0], coef, b)
        assert value == 0.0
        np.testing.assert_array_equal(g, np.zeros(5))
        np.testing.assert_array_equal(gb, [0.0])


def test_column_index_out_of_range_raises_and_writes_nothing():
    X, y, w, coef, b = make_problem("squared", 30, 5, np.float64, density=1.0)
    M = sp.csr_matrix(X)
    M.indices[-1] = 5                               # in the last row: after all the others
    g, gb = np.full(5, 3.0), np.full(1, 3.0)
    with pytest.raises(ValueError, match=r"'X.indices' holds a column index outside \[0, 5\)"):
        value_and_grad("squared", M, y, w, coef, b, g, gb)
    np.testing.assert_array_equal(g, 3.0)
    np.testing.assert_array_equal(gb, 3.0)


def test_docstring_example_runs():
    finder = doctest.DocTestFinder()
    tests = finder.find(value_and_grad, "value_and_grad", globs={"np": np,
                                                                  "value_and_grad":
                                                                  value_and_grad})
    runner = doctest.DocTestRunner()
    for t in tests:
        runner.run(t)
    assert runner.tries > 0 and runner.failures == 0
    assert _losses.value_and_grad is value_and_grad
