"""fastopt.linear_model: scikit-learn's estimator checks, and the estimators against
scikit-learn's own on the breast-cancer and digits data (the same objective at the optimum
to 1e-6, relatively, and the same support)."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp

sklearn = pytest.importorskip("sklearn")
import sklearn.linear_model as skl                                      # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits           # noqa: E402
from sklearn.exceptions import ConvergenceWarning                      # noqa: E402
from sklearn.preprocessing import StandardScaler                       # noqa: E402
from sklearn.svm import l1_min_c as sk_l1_min_c                        # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks     # noqa: E402
from threadpoolctl import threadpool_limits                            # noqa: E402

from fastopt import linear_model                                       # noqa: E402
from fastopt.linear_model import (ElasticNet, Lasso, LogisticRegression,  # noqa: E402
                                  alpha_max, l1_min_c, l1_path)


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """scikit-learn's solvers call BLAS on small matrices: threads only oversubscribe a
    shared machine there (x20 slower)."""
    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def logistic_objective(est, X, y, C, l1_ratio, sample_weight=None):
    """scikit-learn's objective, C sum_i s_i loss_i + l1_ratio |W|_1 + (1 - l1_ratio)/2 |W|^2."""
    s = np.ones(len(y)) if sample_weight is None else sample_weight
    z = X @ est.coef_.T + est.intercept_
    if z.shape[1] == 1:
        t = (y == est.classes_[1]).astype(float)
        loss = np.logaddexp(0, z[:, 0]) - t * z[:, 0]
    else:
        loss = logsumexp(z, axis=1) - z[np.arange(len(y)), np.searchsorted(est.classes_, y)]
    W = est.coef_
    return C * s @ loss + l1_ratio * np.abs(W).sum() + (1 - l1_ratio) / 2 * np.sum(W * W)


def enet_objective(est, X, y, alpha, l1_ratio):
    r = y - X @ est.coef_ - est.intercept_
    w = est.coef_
    return (r @ r / (2 * len(y)) + alpha * l1_ratio * np.abs(w).sum()
            + alpha * (1 - l1_ratio) / 2 * w @ w)


def assert_same_optimum(ours, theirs, f_ours, f_theirs):
    assert abs(f_ours - f_theirs) <= 1e-6 * abs(f_theirs)
    np.testing.assert_array_equal(ours.coef_ != 0, theirs.coef_ != 0)


# --------------------------------------------------------------------------------------
# scikit-learn's estimator checks

@parametrize_with_checks([LogisticRegression(), Lasso(), ElasticNet()])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # check_fit_idempotent fits uncentered data (column means 100) whose intercept
        # direction is ill-conditioned: the default max_iter stops short there
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# (the subprocesses run from "/", so that they import the package the tests import, never
# the uncompiled source folder of the current directory)
def test_import_fastopt_does_not_import_sklearn():
    code = "import sys, fastopt; assert 'sklearn' not in sys.modules, 'sklearn imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")


def test_without_sklearn_the_import_names_the_extra():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "try:\n    import fastopt.linear_model\nexcept ImportError as e:\n"
            "    print(e)\nelse:\n    print('imported')")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd="/",
                         text=True).stdout
    assert 'pip install "fastopt[sklearn]"' in out


# --------------------------------------------------------------------------------------
# The same optimum as scikit-learn's

@pytest.mark.parametrize("C, l1_ratio", [(1.0, 0.0), (0.1, 1.0), (0.1, 0.5)])
def test_logistic_binary_matches_sklearn(cancer, C, l1_ratio):
    X, y = cancer
    ours = LogisticRegression(C=C, l1_ratio=l1_ratio, tol=1e-7, max_iter=20000).fit(X, y)
    solver = "lbfgs" if l1_ratio == 0 else "saga"
    theirs = skl.LogisticRegression(C=C, l1_ratio=l1_ratio, solver=solver, tol=1e-8,
                                    max_iter=100000).fit(X, y)
    assert_same_optimum(ours, theirs, logistic_objective(ours, X, y, C, l1_ratio),
                        logistic_objective(theirs, X, y, C, l1_ratio))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-4)
    assert ours.coef_.shape == (1, 30) and ours.intercept_.shape == (1,)


def test_logistic_multinomial_matches_sklearn(digits):
    X, y = digits
    ours = LogisticRegression(C=0.1, tol=1e-7, max_iter=20000).fit(X, y)
    theirs = skl.LogisticRegression(C=0.1, tol=1e-10, max_iter=10000).fit(X, y)
    assert ours.coef_.shape == (10, 64) and ours.intercept_.shape == (10,)
    assert_same_optimum(ours, theirs, logistic_objective(ours, X, y, 0.1, 0.0),
                        logistic_objective(theirs, X, y, 0.1, 0.0))
    np.testing.assert_array_equal(ours.classes_, np.arange(10))
    assert np.mean(ours.predict(X) == theirs.predict(X)) > 0.99


@pytest.mark.parametrize("data", ["cancer", "digits"])
@pytest.mark.parametrize("cls, alpha, l1_ratio", [(Lasso, 0.01, 1.0), (ElasticNet, 0.02, 0.5)])
def test_enet_matches_sklearn(request, data, cls, alpha, l1_ratio):
    X, y = request.getfixturevalue(data)
    y = y.astype(float)
    kw = {} if cls is Lasso else {"l1_ratio": l1_ratio}
    ours = cls(alpha=alpha, tol=1e-8, max_iter=50000, **kw).fit(X, y)
    theirs = getattr(skl, cls.__name__)(alpha=alpha, tol=1e-12, max_iter=100000, **kw).fit(X, y)
    assert_same_optimum(ours, theirs, enet_objective(ours, X, y, alpha, l1_ratio),
                        enet_objective(theirs, X, y, alpha, l1_ratio))


# --------------------------------------------------------------------------------------
# Weights, warm starts, dtypes, sparse input, convergence

def test_sample_weight_two_is_a_duplicated_row(cancer):
    X, y = cancer
    w = np.ones(len(y))
    w[::3] = 2.0
    dup = np.r_[np.arange(len(y)), np.arange(0, len(y), 3)]
    for est in (LogisticRegression(C=0.1, l1_ratio=0.5, tol=1e-8, max_iter=20000),
                Lasso(alpha=0.01, tol=1e-8, max_iter=20000)):
        yy = y if isinstance(est, LogisticRegression) else y.astype(float)
        a = est.fit(X, yy, sample_weight=w).coef_.copy()
        b = est.fit(X[dup], yy[dup]).coef_
        np.testing.assert_allclose(a, b, atol=1e-6)
        np.testing.assert_array_equal(a != 0, b != 0)


def test_class_weight_is_a_sample_weight(cancer):
    X, y = cancer
    kw = {"C": 0.1, "l1_ratio": 1.0, "tol": 1e-8, "max_iter": 20000}
    a = LogisticRegression(class_weight={0: 2.0, 1: 1.0}, **kw).fit(X, y)
    b = LogisticRegression(**kw).fit(X, y, sample_weight=np.where(y == 0, 2.0, 1.0))
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-7)
    bal = LogisticRegression(class_weight="balanced", **kw).fit(X, y)
    counts = np.bincount(y)
    c = LogisticRegression(**kw).fit(X, y, sample_weight=len(y) / (2 * counts[y]))
    np.testing.assert_allclose(bal.coef_, c.coef_, atol=1e-7)


def test_warm_start_starts_from_the_last_fit(cancer):
    X, y = cancer
    est = LogisticRegression(C=0.1, l1_ratio=1.0, tol=1e-6, max_iter=20000, warm_start=True)
    cold = est.fit(X, y).n_iter_[0]
    coef = est.coef_.copy()
    again = est.fit(X, y).n_iter_[0]
    assert again < cold / 5
    np.testing.assert_allclose(est.coef_, coef, atol=1e-5)
    # without warm_start the second fit repeats the first
    est.set_params(warm_start=False)
    assert est.fit(X, y).n_iter_[0] == cold


def test_float32_is_kept(cancer):
    X, y = cancer
    X32 = X.astype(np.float32)
    for est, yy in ((LogisticRegression(C=0.1, l1_ratio=1.0, tol=1e-4), y),
                    (Lasso(alpha=0.01, tol=1e-4), y.astype(np.float32))):
        est.fit(X32, yy)
        assert est.coef_.dtype == np.float32
        ref = type(est)(**est.get_params()).fit(X, yy.astype(float) if yy.dtype.kind == "f"
                                                 else yy)
        np.testing.assert_allclose(est.coef_, ref.coef_, atol=2e-3)
    assert LogisticRegression().fit(X32, y).predict_proba(X32).dtype == np.float32


@pytest.mark.parametrize("est", [LogisticRegression(C=0.1, l1_ratio=1.0, tol=1e-8),
                                 Lasso(alpha=0.01, tol=1e-8)], ids=["logistic", "lasso"])
def test_csr_equals_dense(cancer, est):
    X, y = cancer
    X = np.where(np.abs(X) < 0.5, 0.0, X)              # a third of the entries zero
    yy = y if isinstance(est, LogisticRegression) else y.astype(float)
    dense = est.fit(X, yy).coef_.copy()
    sparse = est.fit(sp.csr_matrix(X), yy).coef_
    np.testing.assert_allclose(sparse, dense, atol=1e-9)
    np.testing.assert_array_equal(sparse != 0, dense != 0)


def test_n_jobs_does_not_change_the_result(cancer):
    X, y = cancer
    a = LogisticRegression(C=0.1, l1_ratio=1.0, n_jobs=1).fit(X, y)
    b = LogisticRegression(C=0.1, l1_ratio=1.0, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12, atol=1e-14)


def test_convergence_warning_when_max_iter_binds(cancer):
    X, y = cancer
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        est = LogisticRegression(max_iter=3).fit(X, y)
    assert est.n_iter_[0] == 3
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        Lasso(alpha=0.01, max_iter=2).fit(X, y.astype(float))


@pytest.mark.parametrize("solver", ["sgd", "nesterov", "adam"])
def test_other_solvers_reach_the_optimum(cancer, solver):
    X, y = cancer
    ref = LogisticRegression(C=0.1, l1_ratio=1.0, tol=1e-9, max_iter=20000).fit(X, y)
    est = LogisticRegression(C=0.1, l1_ratio=1.0, tol=1e-9, max_iter=100000,
                             solver=solver).fit(X, y)
    f, f_ref = (logistic_objective(e, X, y, 0.1, 1.0) for e in (est, ref))
    assert abs(f - f_ref) <= 1e-6 * f_ref


@pytest.mark.parametrize("solver", ["fista", "momentum"])
def test_lasso_solvers_recover_from_too_large_a_step(cancer, solver):
    """A step a million times too large: FISTA backtracks from it, minimize's methods
    diverge and are refused with a clear error."""
    X, y = cancer
    y = y.astype(float)
    ref = Lasso(alpha=0.01, tol=1e-8, max_iter=50000).fit(X, y)
    est = Lasso(alpha=0.01, tol=1e-8, max_iter=50000, solver=solver, learning_rate=1e6)
    if solver == "momentum":
        with pytest.raises(FloatingPointError, match="learning_rate"):
            est.fit(X, y)
        return
    est.fit(X, y)
    f, f_ref = (enet_objective(e, X, y, 0.01, 1.0) for e in (est, ref))
    assert abs(f - f_ref) <= 1e-9 * f_ref
    np.testing.assert_array_equal(est.coef_ != 0, ref.coef_ != 0)


def test_fista_reaches_a_tight_tol_where_f_changes_are_rounding(digits, monkeypatch):
    """Near the optimum f's changes are rounding: the step test must not accept steps
    that only look fine within it (they grow without bound and the run never stops)."""
    monkeypatch.setattr(linear_model, "STEP_GROWTH", 2.0)
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = LogisticRegression(C=0.1, tol=1e-8, max_iter=3000).fit(X, y)
    assert est.n_iter_[0] < 1000


def test_minibatches_then_full_batch_steps(cancer):
    X, y = cancer
    ref = LogisticRegression(C=0.1, l1_ratio=1.0, tol=1e-8, max_iter=20000).fit(X, y)
    est = LogisticRegression(C=0.1, l1_ratio=1.0, tol=1e-8, max_iter=20000, batch_size=64,
                             random_state=0).fit(X, y)
    f, f_ref = (logistic_objective(e, X, y, 0.1, 1.0) for e in (est, ref))
    assert abs(f - f_ref) <= 1e-6 * f_ref
    np.testing.assert_array_equal(est.coef_ != 0, ref.coef_ != 0)


# --------------------------------------------------------------------------------------
# The regularization path

def test_l1_min_c_matches_sklearn_without_intercept(cancer):
    X, y = cancer
    assert l1_min_c(X, y, fit_intercept=False) == pytest.approx(
        sk_l1_min_c(X, y, loss="log", fit_intercept=False), rel=1e-12)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_l1_min_c_is_where_the_model_leaves_zero(cancer, fit_intercept):
    X, y = cancer
    c = l1_min_c(X, y, fit_intercept=fit_intercept)
    kw = {"l1_ratio": 1.0, "tol": 1e-8, "max_iter": 20000, "fit_intercept": fit_intercept}
    assert not LogisticRegression(C=0.99 * c, **kw).fit(X, y).coef_.any()
    assert LogisticRegression(C=1.05 * c, **kw).fit(X, y).coef_.any()


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_alpha_max_is_where_the_lasso_leaves_zero(cancer, fit_intercept):
    X, y = cancer
    y = y.astype(float)
    a = alpha_max(X, y, fit_intercept=fit_intercept)
    kw = {"tol": 1e-9, "max_iter": 20000, "fit_intercept": fit_intercept}
    assert not Lasso(alpha=1.01 * a, **kw).fit(X, y).coef_.any()
    assert Lasso(alpha=0.95 * a, **kw).fit(X, y).coef_.any()
    ref = skl.Lasso(alpha=0.95 * a, fit_intercept=fit_intercept, tol=1e-12).fit(X, y)
    assert ref.coef_.any()


def test_lasso_path_matches_sklearn(cancer):
    X, y = cancer
    y = y - y.mean()
    alphas = alpha_max(X, y, fit_intercept=False) * np.logspace(0, -2, 8)
    coefs, intercepts, n_iter = l1_path(Lasso(fit_intercept=False, tol=1e-9,
                                              max_iter=50000), X, y, alphas)
    _, ref, _ = skl.lasso_path(X, y, alphas=alphas, tol=1e-12, max_iter=100000)
    assert coefs.shape == (8, 30) and n_iter.shape == (8,)
    np.testing.assert_allclose(coefs, ref.T, atol=1e-5)
    np.testing.assert_array_equal(coefs != 0, ref.T != 0)
    assert not coefs[0].any()


def test_logistic_path_warm_starts(cancer):
    X, y = cancer
    Cs = l1_min_c(X, y) * np.logspace(0.1, 2, 6)
    est = LogisticRegression(l1_ratio=1.0, tol=1e-7, max_iter=20000)
    coefs, intercepts, n_iter = l1_path(est, X, y, Cs)
    assert coefs.shape == (6, 1, 30) and intercepts.shape == (6, 1)
    cold = [LogisticRegression(C=C, l1_ratio=1.0, tol=1e-7, max_iter=20000).fit(X, y)
            for C in Cs]
    np.testing.assert_allclose(coefs, np.array([e.coef_ for e in cold]), atol=1e-4)
    assert n_iter[1:].sum() < sum(e.n_iter_[0] for e in cold[1:])
    assert np.count_nonzero(coefs[0]) < np.count_nonzero(coefs[-1])
    assert est.get_params()["warm_start"] is False            # the estimator is not changed


# --------------------------------------------------------------------------------------
# Bad input

@pytest.mark.parametrize("est, match", [
    (LogisticRegression(C=0.0), "'C' parameter"),
    (LogisticRegression(C=-1.0), "'C' parameter"),
    (LogisticRegression(l1_ratio=1.5), "'l1_ratio' parameter"),
    (LogisticRegression(penalty="l3"), "'penalty' parameter"),
    (LogisticRegression(solver="lbfgs"), "'solver' parameter"),
    (LogisticRegression(tol=-1.0), "'tol' parameter"),
    (LogisticRegression(max_iter=1.5), "'max_iter' parameter"),
    (LogisticRegression(learning_rate="fast"), "'learning_rate' parameter"),
    (LogisticRegression(learning_rate=0.0), "'learning_rate' parameter"),
    (LogisticRegression(batch_size=0), "'batch_size' parameter"),
    (LogisticRegression(n_jobs=0), "'n_jobs' parameter"),
    (LogisticRegression(fit_intercept="yes"), "'fit_intercept' parameter"),
    (LogisticRegression(warm_start=None), "'warm_start' parameter"),
    (LogisticRegression(batch_size=10, random_state="x"), "'random_state' parameter"),
    (Lasso(alpha=-0.1), "'alpha' parameter"),
    (Lasso(alpha=np.nan), "'alpha' parameter"),
    (ElasticNet(l1_ratio=-0.1), "'l1_ratio' parameter"),
    (ElasticNet(max_iter=-1), "'max_iter' parameter"),
])
def test_bad_parameters_are_refused(cancer, est, match):
    X, y = cancer
    with pytest.raises(ValueError, match=match):
        est.fit(X[:50], y[:50].astype(float) if isinstance(est, ElasticNet) else y[:50])


def test_bad_fit_input_is_refused(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="sample_weight"):
        LogisticRegression().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="sample_weight"):
        Lasso().fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="class"):
        LogisticRegression().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="'values'"):
        l1_path(Lasso(), X, y, [])
    with pytest.raises(TypeError, match="'estimator'"):
        l1_path(skl.Lasso(), X, y, [0.1])


def test_docstring_examples_run():
    import doctest

    import fastopt.linear_model
    result = doctest.testmod(fastopt.linear_model, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
