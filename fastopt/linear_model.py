"""scikit-learn estimators over fastopt's proximal optimizers: ``LogisticRegression``
(binary and multinomial), ``Lasso`` and ``ElasticNet``, the regularization-path helper
``l1_path`` and the thresholds ``l1_min_c`` and ``alpha_max``.

Each estimator minimizes scikit-learn's own objective, scaled by a positive constant that
does not move the optimum (the sum of the sample weights S, and C for the logistic loss)::

    LogisticRegression: sum_i s_i loss_i / S + (l1_ratio ||W||_1
                        + (1 - l1_ratio) / 2 ||W||_F^2) / (C S)
    ElasticNet, Lasso:  sum_i s_i (y_i - x_i w - b)^2 / (2 S)
                        + alpha (l1_ratio ||w||_1 + (1 - l1_ratio) / 2 ||w||^2)

by accelerated proximal gradient (FISTA with adaptive restarts, the default solver) or
``fastopt.minimize`` (full-batch steps of the chosen method), the l1 part as an exact
proximal step and the intercept never penalized, on the loss kernels of
``fastopt._losses``.  Needs scikit-learn (``pip install "fastopt[sklearn]"``); ``import
fastopt`` never imports it.
"""

import math
import numbers
import os
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.optimize import OptimizeResult

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.class_weight import compute_class_weight
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as e:                      # pragma: no cover - depends on the install
    raise ImportError("fastopt.linear_model needs scikit-learn >= 1.6: install the extra, "
                      "pip install \"fastopt[sklearn]\"") from e

from fastopt import _losses
from fastopt._loop import Status, _stationarity
from fastopt._minimize import METHODS, minimize

__all__ = ["LogisticRegression", "Lasso", "ElasticNet", "l1_path", "l1_min_c", "alpha_max"]

# The default solver (bench/linear_model.py measured the choices; see bench/RESULTS.md):
# accelerated proximal gradient (FISTA) with adaptive restarts, its own loop over the loss
# kernel (_fista).  For the logistic and softmax losses it backtracks on the step and lets
# it grow by STEP_GROWTH after each accepted step: their curvature bound overstates the
# curvature near the optimum, often several times.  For the squared loss the bound is
# the curvature, and the steps stay 1 / L (one loss evaluation per step).
DEFAULT_SOLVER = "fista"
SOLVERS = ("fista", *METHODS)
STEP_GROWTH = 1.25
# The settings of learning_rate="auto" for fastopt.minimize's methods: heavy-ball momentum
# 0.95 with the step 3 / L, L the Lipschitz bound of the smooth part's gradient (stable
# below 2 (1 + momentum) / L = 3.9 / L).
AUTO_MOMENTUM = 0.95
AUTO_STEP = 3.0
MOMENTUM_SOLVERS = ("momentum", "nesterov")
# curvature bounds of the losses: the largest second derivative in z
CURVATURE = {"logistic": 0.25, "softmax": 0.5, "squared": 1.0}
POWER_ITERATIONS = 15        # for a fixed step; a backtracking FISTA needs only a start
START_ITERATIONS = 3
RETRIES = 4                  # "auto": a run that diverges is retried with a quarter the step
HALVINGS = 60                # backtracking: most halvings of the step at one point
EXACT_CHANGE = 1e-10         # relative changes of f below this are tested by its gradient


# --------------------------------------------------------------------------------------
# The solver.

def _lipschitz(X, sw, scale, fit_intercept, iterations=POWER_ITERATIONS, seed=0):
    """||diag(sqrt(sw)) [X, 1]||_2^2 / scale (the column of ones with fit_intercept), by
    ``iterations`` power iterations from a seeded start (a lower bound that rises to it)."""
    n, d = X.shape
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(d + 1)
    if not fit_intercept:
        v[d] = 0.0
    value = 0.0
    for _ in range(iterations):
        norm = np.linalg.norm(v)
        if norm == 0:
            break
        v /= norm
        u = sw * (np.asarray(X @ v[:d]) + v[d])
        w = np.empty(d + 1)
        w[:d] = X.T @ u
        w[d] = u.sum() if fit_intercept else 0.0
        value = float(v @ w)
        v = w
    return value / scale


def _fista(fun, x0, l1, step, tol, max_iter, backtrack):
    """Accelerated proximal gradient (FISTA) on f(x) + sum_i l1_i |x_i| from x0.

    ``fun(x, g)`` returns f(x) and writes its gradient into g; ``l1`` holds the per-entry
    strengths (None: no l1 part).  Each step is the proximal-gradient step from the
    extrapolated point y, z = prox(y - t grad f(y)), then y = z + beta (z - x) with
    Nesterov's beta; the momentum restarts (beta = 0) when the step turns against the last
    one, (y - z).(z - x) > 0, or, with ``backtrack``, when the objective rises.  With
    ``backtrack`` each step is halved until the quadratic upper bound at y holds at z
    (a non-finite f(z) fails it; where f changes by less than EXACT_CHANGE relatively, the
    curvature test (grad f(z) - grad f(y)).(z - y) <= |z - y|^2 / t, which rounding does
    not swamp) and then grows by STEP_GROWTH, the stopping measure is
    the largest entry of the minimum-norm subgradient at z (as for fastopt.minimize's gtol)
    and a step costs two evaluations of fun (one after a restart); without it the step
    stays ``step``, the measure is that of the proximal-gradient mapping (y - z) / t at y
    and a step costs one evaluation.  Returns (x, the objective at x, steps, Status)."""
    def objective(f, p):
        return f if l1 is None else f + float(np.abs(p) @ l1)

    x = x0.copy()
    y = x0.copy()
    z, d, g, gz = (np.empty_like(x) for _ in range(4))
    shrink, tau = (None, None) if l1 is None else (np.empty_like(x), np.empty_like(x))
    t = step
    fy = fz = fun(y, g)
    Fx = Fz = objective(fy, y)                     # the objective at x and at z
    theta = 1.0
    if not math.isfinite(fy):
        return x, fy, 0, Status.NAN
    for it in range(1, max_iter + 1):
        for _ in range(HALVINGS):
            np.multiply(g, -t, out=z)
            z += y
            if shrink is not None:               # z -= clip(z, -t l1, t l1): exact +0.0
                np.multiply(l1, t, out=tau)
                np.minimum(z, tau, out=shrink)
                np.negative(tau, out=tau)
                np.maximum(shrink, tau, out=shrink)
                z -= shrink
            np.subtract(z, y, out=d)
            if not backtrack:
                break
            fz = fun(z, gz)
            dd, gd = float(d @ d), float(g @ d)
            if abs(fz - fy) > EXACT_CHANGE * max(abs(fz), abs(fy)):
                accept = fz <= fy + gd + dd / (2 * t)
            else:                                   # f's change is rounding: curvature
                accept = float(gz @ d) - gd <= dd / t
            if accept:
                break
            t *= 0.5
        else:
            return x, Fx, it - 1, Status.NAN
        if backtrack:
            measure = _stationarity(z, gz, l1, None, None)
            Fz = objective(fz, z)
        else:
            measure = float(np.abs(d).max()) / t if d.size else 0.0
        restart = float(d @ z) - float(d @ x) < 0 or (backtrack and Fz > Fx)
        x, z = z, x                                # x: the new point, z: the last one
        if measure <= tol:
            return x, Fz if backtrack else objective(fun(x, gz), x), it, Status.SUCCESS
        theta_next = 1.0 if restart else (1 + math.sqrt(1 + 4 * theta * theta)) / 2
        beta = (theta - 1) / theta_next if not restart else 0.0
        theta = theta_next
        if backtrack:
            Fx = Fz
            t *= STEP_GROWTH
        if beta == 0.0 and backtrack:
            y[:] = x
            fy = fz
            g, gz = gz, g
        else:
            np.subtract(x, z, out=d)
            np.multiply(d, beta, out=y)
            y += x
            fy = fun(y, g)
            if not math.isfinite(fy):
                return z, Fx, it, Status.NAN
    return x, Fx if backtrack else objective(fun(x, gz), x), max_iter, Status.MAXITER


def _check_number(name, value, low, high=math.inf, low_open=False, inf_ok=False):
    """A real number in [low, high] (or (low, high]) as float; ValueError naming it."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if ok:
        value = float(value)
        ok = (value > low if low_open else value >= low) and value <= high
        ok = ok and (math.isfinite(value) or (inf_ok and value == math.inf))
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"The '{name}' parameter must be a real number in "
                         f"{bracket}{low}, {high}{']' if high < math.inf else ')'}; got "
                         f"{value!r}")
    return value


def _check_int(name, value, low, none_ok=False):
    if value is None and none_ok:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)) \
            or value < low:
        raise ValueError(f"The '{name}' parameter must be an int >= {low}"
                         f"{' or None' if none_ok else ''}; got {value!r}")
    return int(value)


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"The '{name}' parameter must be True or False; got {value!r}")
    return bool(value)


def _sample_weight(sample_weight, n, dtype):
    if sample_weight is None:
        return np.ones(n, dtype)
    if isinstance(sample_weight, numbers.Number):
        sw = np.full(n, sample_weight, dtype=dtype)
    else:
        sw = np.array(sample_weight, dtype=dtype)
        if sw.shape != (n,):
            raise ValueError(f"sample_weight.shape == {sw.shape}, expected {(n,)}!")
    if not np.all(np.isfinite(sw)) or np.any(sw < 0):
        raise ValueError("sample_weight must be finite and >= 0")
    if sw.sum() <= 0:
        raise ValueError("sample_weight must not be all zero (their sum must be > 0)")
    return sw


class _Linear(BaseEstimator):
    """What the estimators share: the solver's parameters, the fit of one problem
    (``_solve``) and the prediction of the linear model."""

    def _check_solver_params(self):
        self._tol = _check_number("tol", self.tol, 0.0)
        self._max_iter = _check_int("max_iter", self.max_iter, 0)
        _check_bool("fit_intercept", self.fit_intercept)
        _check_bool("warm_start", self.warm_start)
        if not (isinstance(self.solver, str) and self.solver.lower() in SOLVERS):
            raise ValueError(f"The 'solver' parameter must be one of {sorted(SOLVERS)}; got "
                             f"{self.solver!r}")
        _check_int("batch_size", self.batch_size, 1, none_ok=True)
        if not (isinstance(self.learning_rate, str) and self.learning_rate == "auto"):
            _check_number("learning_rate", self.learning_rate, 0.0, low_open=True)
        n_jobs = self.n_jobs
        if n_jobs is not None and (not isinstance(n_jobs, numbers.Integral)
                                   or isinstance(n_jobs, (bool, np.bool_)) or n_jobs == 0):
            raise ValueError(f"The 'n_jobs' parameter must be None or an int other than 0; "
                             f"got {n_jobs!r}")

    def _num_threads(self):
        """n_jobs as fastopt's num_threads (None: fastopt's default; -1: every CPU; -2:
        all but one, ...)."""
        if self.n_jobs is None:
            return None
        if self.n_jobs > 0:
            return int(self.n_jobs)
        return max(1, (os.cpu_count() or 1) + 1 + int(self.n_jobs))

    def _solve(self, loss, X, y, sw, shape, l1, l2, coef0, intercept0):
        """Minimize sum(sw loss) / S + l2 / 2 ||coef||^2 + l1 ||coef||_1 over coef (shape
        ``shape``: (d,) or (d, k)) and, with fit_intercept, the unpenalized intercept (1 or
        k entries), from (coef0, intercept0); returns (coef, intercept, iterations)."""
        dtype = X.dtype
        m = int(np.prod(shape))
        k = 1 if len(shape) == 1 else shape[1]
        fit_intercept = self.fit_intercept
        size = m + (k if fit_intercept else 0)
        x0 = np.zeros(size, dtype)
        x0[:m] = np.asarray(coef0, dtype).reshape(-1)
        if fit_intercept:
            x0[m:] = intercept0
        S = float(sw.sum())
        zero_intercept = np.zeros(k, dtype)
        spare = np.empty(k, dtype)
        num_threads = self._num_threads()
        loss_threads = num_threads

        sw_S = sw / S

        def fun(x, g=None):
            g = np.empty_like(x) if g is None else g
            coef = x[:m].reshape(shape)
            b, gb = (x[m:], g[m:]) if fit_intercept else (zero_intercept, spare)
            v = _losses.value_and_grad(loss, X, y, sw_S, coef, b, g[:m].reshape(shape), gb,
                                       num_threads=loss_threads)
            if l2:
                c = x[:m]
                g[:m] += l2 * c
                v += 0.5 * l2 * float(c @ c)
            return v, g

        method = self.solver.lower()
        auto = isinstance(self.learning_rate, str)
        options = {"gtol": self._tol, "maxiter": self._max_iter, "num_threads": num_threads}
        l1v = None
        if l1:
            l1v = np.zeros(size, dtype)
            l1v[:m] = l1
            options["l1"] = l1v
        if method == "fista":
            backtrack = loss != "squared" or not auto
            if auto:
                iterations = START_ITERATIONS if backtrack else POWER_ITERATIONS
                lr = 1.0 / (CURVATURE[loss] * _lipschitz(X, sw, S, fit_intercept, iterations)
                            + l2)
            else:
                lr = float(self.learning_rate)
        elif auto:
            lipschitz = CURVATURE[loss] * _lipschitz(X, sw, S, fit_intercept) + l2
            if method in MOMENTUM_SOLVERS:
                options["momentum"] = AUTO_MOMENTUM
                lr = AUTO_STEP / lipschitz
            elif METHODS[method][0] is METHODS["sgd"][0]:
                lr = 1.0 / lipschitz
            else:                              # adaptive methods: steps of about lr per entry
                lr = 0.1
        else:
            lr = float(self.learning_rate)
        batch_method, batch_lr = ("adam", 0.1) if method == "fista" else (method, None)

        def value(x, g):
            return fun(x, g)[0]

        for _ in range(RETRIES if auto else 1):
            options["learning_rate"] = lr
            x1, nit_batches = x0, 0
            if self.batch_size is not None:
                res = minimize(_fun_rows(loss, m, shape, k, fit_intercept, l2, dtype,
                                        loss_threads), x0, args=(X, y, sw * (X.shape[0] / S)),
                               method=batch_method, jac=True,
                               options={**options, "learning_rate": batch_lr or lr,
                                        "batch_size": self.batch_size,
                                        "epochs": max(self._max_iter, 1), "maxiter": None,
                                        "ftol": self._tol, "seed": _seed(self.random_state)})
                x1 = res.x if np.all(np.isfinite(res.x)) else x0
                nit_batches = res.get("nepochs", 0)
            if method == "fista":
                x, f, nit, status = _fista(value, x1, l1v, lr, self._tol, self._max_iter,
                                           backtrack)
                res = OptimizeResult(x=x, fun=f, nit=nit, status=status)
            else:
                res = minimize(fun, x1, method=method, jac=True, options=options)
            res.nit += nit_batches
            if res.status != Status.NAN and np.isfinite(res.fun) and np.all(np.isfinite(res.x)):
                break
            lr /= 4
        if res.status == Status.NAN or not np.all(np.isfinite(res.x)):
            raise FloatingPointError(f"{type(self).__name__}: the solver diverged (a "
                                     "non-finite objective); give a smaller learning_rate")
        if res.status == Status.MAXITER:
            warnings.warn(f"{type(self).__name__}: {method} did not converge within max_iter="
                          f"{self._max_iter} iterations (the optimality measure is above "
                          "tol); increase max_iter or tol", ConvergenceWarning, stacklevel=3)
        x = res.x
        coef = x[:m].reshape(shape).copy()
        intercept = x[m:].copy() if fit_intercept else np.zeros(k, dtype)
        return coef, intercept, int(res.nit)

    def _decision(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", reset=False,
                          dtype=[np.float64, np.float32])
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _seed(random_state):
    """random_state as default_rng's seed (None, an int, or a RandomState's draw)."""
    if random_state is None or isinstance(random_state, numbers.Integral):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    raise ValueError(f"The 'random_state' parameter must be None, an int or a "
                     f"numpy.random.RandomState; got {random_state!r}")


def _fun_rows(loss, m, shape, k, fit_intercept, l2, dtype, num_threads):
    """The objective of the minibatch phase: the mean over the rows it is given (the weights
    normalized to mean 1 over all rows), plus the l2 term."""
    zero_intercept = np.zeros(k, dtype)
    spare = np.empty(k, dtype)

    def fun(x, X, y, sw):
        g = np.empty_like(x)
        coef = x[:m].reshape(shape)
        b, gb = (x[m:], g[m:]) if fit_intercept else (zero_intercept, spare)
        v = _losses.value_and_grad(loss, X, y, sw, coef, b, g[:m].reshape(shape), gb,
                                   num_threads=num_threads)
        n = X.shape[0]
        g /= n
        v /= n
        if l2:
            c = x[:m]
            g[:m] += l2 * c
            v += 0.5 * l2 * float(c @ c)
        return v, g
    return fun


def _validate_X_y(est, X, y, **kwargs):
    """X as C-contiguous float64/float32 (kept float32) or CSR, y 1-D."""
    X, y = validate_data(est, X, y, accept_sparse="csr", dtype=[np.float64, np.float32],
                         order="C", y_numeric=kwargs.pop("y_numeric", False), **kwargs)
    if sp.issparse(X):
        X.sort_indices()
    return X, y


_SOLVER_DOC = """
    solver : str, default="fista"
        "fista": accelerated proximal gradient (FISTA) with adaptive restarts of its
        momentum (when the step turns back or the objective rises); in LogisticRegression
        it backtracks on the step (halving it until the quadratic upper bound holds) and
        lets it grow by 1.25 after each step, two loss evaluations a step.  Or any of
        ``fastopt.minimize``'s methods ("sgd", "momentum", "nesterov", "adagrad",
        "rmsprop", "adam", "amsgrad", "adamax", "nadam"), run on full batches with the l1
        part as the kernel's exact proximal step.  "fista" reached a 1e-6 relative
        objective gap sooner than "momentum" (of the others, the one that needs the
        fewest steps) on every problem of bench/linear_model.py (see bench/RESULTS.md).
    learning_rate : "auto" or float, default="auto"
        The step.  With L the Lipschitz constant of the smooth part's gradient bounded
        from the data (the loss's curvature bound times ||[X, 1]||_2^2 by power
        iterations, plus the l2 strength), "auto" is: for "fista" 1 / L, the first step of
        the backtracking (3 power iterations) in LogisticRegression, the fixed step (15
        power iterations) in Lasso and ElasticNet, whose curvature bound is exact; for
        "momentum" and "nesterov" 3 / L with momentum 0.95; for "sgd" 1 / L (proximal
        gradient descent); 0.1 for the adaptive methods.  A run that diverges is repeated
        with a quarter of the step (at most 4 times).  A float: "fista" starts its
        backtracking from it (in Lasso and ElasticNet too).
    batch_size : int or None, default=None
        With an int, first epochs of shuffled minibatches of that many rows (until the
        epoch-mean objective decreases by less than ``tol``, relatively, or ``max_iter``
        epochs; for "fista" Adam's steps at learning rate 0.1, for the other methods
        their own), then full-batch steps to ``tol``; ``n_iter_`` counts both.
    tol : float, default=1e-4
        Stop when the largest entry of the minimum-norm subgradient of the (scaled)
        objective, over the coefficients and the intercept, is <= tol (for "fista" in Lasso
        and ElasticNet with learning_rate="auto": that of the proximal-gradient mapping
        (y - prox(y - grad / L)) L at the extrapolated point y, equal to it where the
        step does not cross zero).
    warm_start : bool, default=False
        Start from the last fit's ``coef_`` and ``intercept_`` (when their shapes fit).
    random_state : int, RandomState or None, default=None
        The shuffling of the minibatches (``batch_size``); full-batch fits do not use it.
    n_jobs : int or None, default=None
        fastopt's ``num_threads`` for the steps and the loss (None: OpenMP's default;
        negative: all CPUs but ``-n_jobs - 1``).  Results do not depend on it."""

_ATTRIBUTES_DOC = """
    n_iter_ : ndarray of shape (1,)
        The iterations (full-batch steps, plus minibatch epochs) of the last fit.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen in fit, when X has string column names."""


# --------------------------------------------------------------------------------------
# The estimators.

class LogisticRegression(ClassifierMixin, _Linear):
    __doc__ = """Logistic regression (binary, or multinomial softmax for 3 or more classes)
    with l2, l1 or elastic-net penalty, on fastopt's proximal optimizers.

    The objective is scikit-learn's, C * sum_i s_i loss_i + l1_ratio ||W||_1 +
    (1 - l1_ratio) / 2 ||W||_F^2 (s_i the sample weight times the class weight), minimized
    in the scaled form of fastopt.linear_model's module docstring; the intercept is not
    penalized.  For 3 or more classes, W has one row per class (softmax loss).

    Parameters
    ----------
    penalty : {"l1", "l2", "elasticnet", None} or "deprecated", default="deprecated"
        As in scikit-learn 1.9 (deprecated there): sets l1_ratio to 1 ("l1") or 0
        ("l2"), or C to inf (None); "elasticnet" keeps ``l1_ratio``.
    C : float, default=1.0
        Inverse of the regularization strength, > 0; ``np.inf``: no penalty.
    l1_ratio : float, default=0.0
        The elastic-net mixing parameter in [0, 1]: 1 is the l1 penalty, 0 the l2.
    fit_intercept : bool, default=True
        Fit an (unpenalized) intercept.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into the sample weights.
    max_iter : int, default=1000
        Most iterations (full-batch steps).
    """ + _SOLVER_DOC + """

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        The coefficients (exact zeros where the l1 penalty sets them).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        The intercept (zeros when fit_intercept is False).""" + _ATTRIBUTES_DOC + """

    Examples
    --------
    >>> import numpy as np
    >>> from fastopt.linear_model import LogisticRegression
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    >>> clf = LogisticRegression(C=10.0).fit(X, [0, 0, 1, 1])
    >>> clf.predict(X).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, penalty="deprecated", *, C=1.0, l1_ratio=0.0, tol=1e-4,
                 fit_intercept=True, class_weight=None, random_state=None,
                 solver=DEFAULT_SOLVER, max_iter=1000, warm_start=False, n_jobs=None,
                 batch_size=None, learning_rate="auto"):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.learning_rate = learning_rate

    def _penalty(self):
        """(C, l1_ratio) after the deprecated ``penalty``."""
        C = _check_number("C", self.C, 0.0, low_open=True, inf_ok=True)
        l1_ratio = _check_number("l1_ratio", self.l1_ratio, 0.0, 1.0)
        penalty = self.penalty
        if isinstance(penalty, str) and penalty == "deprecated":
            return C, l1_ratio
        if penalty not in ("l1", "l2", "elasticnet", None):
            raise ValueError("The 'penalty' parameter must be 'l1', 'l2', 'elasticnet' or "
                             f"None; got {penalty!r}")
        warnings.warn("'penalty' was deprecated in scikit-learn 1.8: use l1_ratio and C "
                      "(l1_ratio=1 for 'l1', 0 for 'l2', C=np.inf for None)", FutureWarning,
                      stacklevel=3)
        if penalty is None:
            return math.inf, l1_ratio
        return C, {"l1": 1.0, "l2": 0.0}.get(penalty, l1_ratio)

    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (float32 stays float32; sparse as CSR).
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples (>= 0); a weight of 2 counts the row twice.

        Returns
        -------
        self
        """
        C, l1_ratio = self._penalty()
        self._check_solver_params()
        X, y = _validate_X_y(self, X, y)
        check_classification_targets(y)
        classes, y_index = np.unique(y, return_inverse=True)
        k = classes.size
        if k < 2:
            raise ValueError("This solver needs samples of at least 2 classes in the data, "
                             f"but the data contains only one class: {classes[0]!r}")
        sw = _sample_weight(sample_weight, X.shape[0], X.dtype)
        if self.class_weight is not None:
            cw = compute_class_weight(self.class_weight, classes=classes, y=y)
            sw = sw * cw[y_index].astype(X.dtype)
        d = X.shape[1]
        if k == 2:
            loss, shape, target = "logistic", (d,), (y_index == 1).astype(X.dtype)
        else:
            loss, shape, target = "softmax", (d, k), y_index.astype(np.int64)
        scale = C * float(sw.sum())
        l1 = l1_ratio / scale
        l2 = (1.0 - l1_ratio) / scale
        rows = 1 if k == 2 else k
        coef0, intercept0 = np.zeros(shape), np.zeros(rows)
        if (self.warm_start and getattr(self, "coef_", None) is not None
                and self.coef_.shape == (rows, d)):
            coef0 = self.coef_.T.reshape(shape)
            intercept0 = self.intercept_
        coef, intercept, nit = self._solve(loss, X, target, sw, shape, l1, l2, coef0,
                                           intercept0)
        self.classes_ = classes
        self.coef_ = coef.reshape(d, rows).T.copy()
        self.intercept_ = intercept
        self.n_iter_ = np.array([nit], dtype=np.int32)
        return self

    def decision_function(self, X):
        """Confidence scores: ``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) (two classes) or (n_samples, n_classes)
        """
        z = self._decision(X)
        return z.ravel() if z.shape[1] == 1 else z

    def predict(self, X):
        """Class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        z = self.decision_function(X)
        index = (z > 0).astype(int) if z.ndim == 1 else z.argmax(axis=1)
        return self.classes_[index]

    def predict_proba(self, X):
        """Probabilities of the classes (columns in the order of ``classes_``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        z = self.decision_function(X)
        if z.ndim == 1:
            p = 0.5 * (1.0 + np.tanh(0.5 * z))
            return np.column_stack([1.0 - p, p])
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Log-probabilities of the classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return np.log(self.predict_proba(X))


class ElasticNet(RegressorMixin, _Linear):
    __doc__ = """Linear regression with combined l1 and l2 penalties, on fastopt's
    proximal optimizers.

    The objective is scikit-learn's, 1 / (2 S) sum_i s_i (y_i - x_i w - b)^2 + alpha
    l1_ratio ||w||_1 + alpha (1 - l1_ratio) / 2 ||w||^2 (S the sum of the sample weights,
    n without them); the intercept b is not penalized.

    Parameters
    ----------
    alpha : float, default=1.0
        The strength of the penalty, >= 0.
    l1_ratio : float, default=0.5
        The mixing parameter in [0, 1]: 1 is the lasso.
    fit_intercept : bool, default=True
        Fit an (unpenalized) intercept.
    max_iter : int, default=1000
        Most iterations (full-batch steps).
    """ + _SOLVER_DOC + """

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        The coefficients (exact zeros where the l1 penalty sets them).
    intercept_ : float
        The intercept (0.0 when fit_intercept is False).""" + _ATTRIBUTES_DOC + """

    Examples
    --------
    >>> import numpy as np
    >>> from fastopt.linear_model import ElasticNet
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    >>> reg = ElasticNet(alpha=0.1, tol=1e-8).fit(X, [0.0, 1.0, 2.0, 3.0])
    >>> reg.coef_.round(2).tolist()
    [0.92, 0.0]
    """

    def __init__(self, alpha=1.0, *, l1_ratio=0.5, fit_intercept=True, max_iter=1000,
                 tol=1e-4, warm_start=False, random_state=None, solver=DEFAULT_SOLVER,
                 n_jobs=None, batch_size=None, learning_rate="auto"):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.solver = solver
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.learning_rate = learning_rate

    def _l1_ratio(self):
        return _check_number("l1_ratio", self.l1_ratio, 0.0, 1.0)

    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (float32 stays float32; sparse as CSR).
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples (>= 0); a weight of 2 counts the row twice.

        Returns
        -------
        self
        """
        alpha = _check_number("alpha", self.alpha, 0.0)
        l1_ratio = self._l1_ratio()
        self._check_solver_params()
        X, y = _validate_X_y(self, X, y, y_numeric=True)
        y = np.asarray(y, dtype=X.dtype)
        sw = _sample_weight(sample_weight, X.shape[0], X.dtype)
        d = X.shape[1]
        coef0, intercept0 = np.zeros(d), np.zeros(1)
        if (self.warm_start and getattr(self, "coef_", None) is not None
                and self.coef_.shape == (d,)):
            coef0, intercept0 = self.coef_, np.array([self.intercept_])
        coef, intercept, nit = self._solve("squared", X, y, sw, (d,), alpha * l1_ratio,
                                           alpha * (1.0 - l1_ratio), coef0, intercept0)
        self.coef_ = coef
        self.intercept_ = intercept[0]
        self.n_iter_ = np.array([nit], dtype=np.int32)
        return self

    def predict(self, X):
        """Predictions ``X @ coef_ + intercept_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", reset=False,
                          dtype=[np.float64, np.float32])
        return np.asarray(X @ self.coef_) + self.intercept_


class Lasso(ElasticNet):
    __doc__ = """Linear regression with the l1 penalty (ElasticNet with l1_ratio=1), on
    fastopt's proximal optimizers.

    The objective is scikit-learn's, 1 / (2 S) sum_i s_i (y_i - x_i w - b)^2 + alpha
    ||w||_1; the intercept b is not penalized.

    Parameters
    ----------
    alpha : float, default=1.0
        The strength of the penalty, >= 0.
    fit_intercept : bool, default=True
        Fit an (unpenalized) intercept.
    max_iter : int, default=1000
        Most iterations (full-batch steps).
    """ + _SOLVER_DOC + """

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        The coefficients (exact zeros where the l1 penalty sets them).
    intercept_ : float
        The intercept (0.0 when fit_intercept is False).""" + _ATTRIBUTES_DOC + """

    Examples
    --------
    >>> import numpy as np
    >>> from fastopt.linear_model import Lasso
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    >>> reg = Lasso(alpha=0.1, tol=1e-8).fit(X, [0.0, 1.0, 2.0, 3.0])
    >>> reg.coef_.round(2).tolist()
    [0.92, 0.0]
    """

    def __init__(self, alpha=1.0, *, fit_intercept=True, max_iter=1000, tol=1e-4,
                 warm_start=False, random_state=None, solver=DEFAULT_SOLVER, n_jobs=None,
                 batch_size=None, learning_rate="auto"):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.solver = solver
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.learning_rate = learning_rate

    def _l1_ratio(self):
        return 1.0


# --------------------------------------------------------------------------------------
# The regularization path.

def l1_path(estimator, X, y, values, *, sample_weight=None):
    """Fit ``estimator`` along a sequence of penalties, each fit starting from the last.

    Parameters
    ----------
    estimator : LogisticRegression, Lasso or ElasticNet
        fastopt.linear_model's; its parameters other than the penalty are kept (it is
        cloned, not changed).
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    values : array-like of floats
        The penalties in the order of the fits: ``C`` for LogisticRegression (ascending:
        from ``l1_min_c`` up, the path from the empty model), ``alpha`` for Lasso and
        ElasticNet (descending: from ``alpha_max`` down).
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    coefs : ndarray of shape ``(len(values), *coef_.shape)``
    intercepts : ndarray of shape ``(len(values), *intercept_.shape)``
    n_iter : ndarray of shape (len(values),)
        The iterations of each fit.

    Examples
    --------
    >>> import numpy as np
    >>> from fastopt.linear_model import Lasso, alpha_max, l1_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 5)); y = X[:, 0] - 2 * X[:, 1]
    >>> alphas = alpha_max(X, y) * np.logspace(0, -2, 4)
    >>> coefs, intercepts, n_iter = l1_path(Lasso(tol=1e-8), X, y, alphas)
    >>> (coefs != 0).sum(axis=1).tolist()
    [0, 2, 2, 2]
    """
    if isinstance(estimator, LogisticRegression):
        name = "C"
    elif isinstance(estimator, ElasticNet):
        name = "alpha"
    else:
        raise TypeError("'estimator' must be a fastopt.linear_model LogisticRegression, Lasso "
                        f"or ElasticNet; got {estimator!r}")
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"'values' must be a non-empty 1-D sequence of {name} values")
    est = clone(estimator).set_params(warm_start=True)
    coefs, intercepts, n_iter = [], [], []
    for v in values:
        est.set_params(**{name: float(v)}).fit(X, y, sample_weight=sample_weight)
        coefs.append(est.coef_.copy())
        intercepts.append(np.copy(est.intercept_))
        n_iter.append(est.n_iter_[0])
    return np.array(coefs), np.array(intercepts), np.array(n_iter)


def _weights_and_X(X, y, sample_weight):
    X = X if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    return X, _sample_weight(sample_weight, n, np.float64)


def l1_min_c(X, y, *, fit_intercept=True, sample_weight=None):
    """The smallest C at which l1-penalized LogisticRegression leaves the empty model.

    For C <= l1_min_c(X, y) the solution has ``coef_ == 0`` (with fit_intercept, only the
    unpenalized intercept is fitted); above it, some coefficient is nonzero.  Without an
    intercept it is scikit-learn's ``sklearn.svm.l1_min_c(X, y, loss="log",
    fit_intercept=False)``; with one, the intercept is unpenalized here (scikit-learn's
    bound penalizes a synthetic intercept feature, as liblinear does).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Class labels (two or more classes: binary or multinomial).
    fit_intercept : bool, default=True
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    float
        ``1 / max |X^T diag(s) (P0 - T)|``, T the one-hot labels (the positive class's column
        for two classes) and P0 the null model's probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> from fastopt.linear_model import l1_min_c
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    >>> round(l1_min_c(X, [1, 0, 1], fit_intercept=False), 3)
    0.667
    """
    X, sw = _weights_and_X(X, y, sample_weight)
    classes, index = np.unique(np.asarray(y), return_inverse=True)
    T = np.eye(classes.size)[index]
    if classes.size == 2:
        T = T[:, 1:]
    if fit_intercept:
        p0 = sw @ T / sw.sum()
    else:
        p0 = np.full(T.shape[1], 0.5 if classes.size == 2 else 1.0 / classes.size)
    grad = np.asarray(X.T @ (sw[:, None] * (p0 - T)))
    return 1.0 / float(np.abs(grad).max())


def alpha_max(X, y, *, l1_ratio=1.0, fit_intercept=True, sample_weight=None):
    """The smallest alpha at which Lasso (or ElasticNet with ``l1_ratio``) has ``coef_ == 0``.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    l1_ratio : float, default=1.0
        ElasticNet's mixing parameter, > 0.
    fit_intercept : bool, default=True
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    float
        ``max |X^T diag(s) (y - y0)| / (S l1_ratio)``, y0 the weighted mean of y with
        fit_intercept (else 0) and S the sum of the weights (n without them), as the top
        of scikit-learn's alpha grid for ``lasso_path`` and ``enet_path``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastopt.linear_model import alpha_max
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    >>> float(alpha_max(X, [1.0, 0.0, 2.0], fit_intercept=False))
    1.6666666666666667
    """
    l1_ratio = _check_number("l1_ratio", l1_ratio, 0.0, 1.0, low_open=True)
    X, sw = _weights_and_X(X, y, sample_weight)
    y = np.asarray(y, dtype=np.float64)
    y0 = sw @ y / sw.sum() if fit_intercept else 0.0
    return float(np.abs(X.T @ (sw * (y - y0))).max()) / (float(sw.sum()) * l1_ratio)
